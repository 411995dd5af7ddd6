"""The answers that output consistency is measured on, grouped by prompt.

An *answer* is a successful request (``error_class`` null) whose output text was recorded. Answers are
grouped by ``prompt_id`` and, inside a group, ordered by ``t_send`` (then ``id``), so "early" and "late"
answers are the first and last in the run. Each distinct text is stored once (``texts``) and answers point
at it (``text_index``), because at temperature 0 most answers repeat exactly and embedding is costly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NO_REQUESTS = "the capture has no requests"
NO_SUCCESS = "no request succeeded, so there are no answers to compare"
NO_TEXT = "the capture has no output text (recorded with --no-text), so consistency was not measurable"
NO_PROMPT_ID = "no answer carries a prompt_id, so answers cannot be grouped by prompt"


@dataclass(frozen=True)
class PromptGroup:
    """One prompt's answers: rows ``start:stop`` of :class:`Answers` (ordered by ``t_send``)."""

    prompt_id: str
    start: int
    stop: int

    @property
    def size(self) -> int:
        """Number of answers in the group."""
        return self.stop - self.start


@dataclass(frozen=True)
class Answers:
    """Answers sorted by (prompt_id, t_send, id), one entry per answer unless noted.

    - ``ids``: client request ids; ``hosts``: host code per answer (``host_names[code]``);
    - ``t_send``: int64 ns since the epoch;
    - ``text_index``: index into ``texts`` (the distinct output texts, each once);
    - ``expected``: the prompt file's expected items per answer (empty tuple when none);
    - ``groups``: one :class:`PromptGroup` per prompt_id, in prompt_id order.
    """

    ids: list[str]
    hosts: np.ndarray
    host_names: list[str]
    t_send: np.ndarray
    text_index: np.ndarray
    texts: list[str]
    expected: list[tuple[str, ...]]
    groups: list[PromptGroup]

    def __len__(self) -> int:
        return len(self.ids)


def _column(table: pa.Table, name: str, type_: pa.DataType) -> pa.ChunkedArray:
    """The column ``name``, or an all-null column of ``type_`` when the table lacks it."""
    if name in table.column_names:
        return table.column(name)
    return pa.chunked_array([pa.nulls(table.num_rows, type_)])


def collect_answers(requests: pa.Table) -> Answers | str:
    """Select, order and group the answers of a requests table.

    Returns the :class:`Answers`, or a one-line reason why consistency is not measurable (no requests, no
    successful request, no recorded text, no prompt_id). A capture recorded with ``--no-text`` is "not
    measurable", never "0 % consistent".
    """
    if requests.num_rows == 0:
        return NO_REQUESTS
    # only the columns used here: filtering the whole table would copy every chunk offset of the capture
    wanted = ("error_class", "text", "prompt_id", "t_send", "id", "host", "expected")
    requests = requests.select([c for c in wanted if c in requests.column_names])
    # masks first (validity bitmaps only), so that ids and texts are copied for the rows used alone
    ok = pc.is_null(_column(requests, "error_class", pa.string()))
    if not pc.any(ok).as_py():
        return NO_SUCCESS
    with_text = pc.and_(ok, pc.is_valid(_column(requests, "text", pa.string())))
    if not pc.any(with_text).as_py():
        return NO_TEXT
    keep = pc.and_(with_text, pc.is_valid(_column(requests, "prompt_id", pa.string())))
    if not pc.any(keep).as_py():
        return NO_PROMPT_ID
    table = requests.filter(keep)

    table = pa.table(
        {
            "prompt_id": _column(table, "prompt_id", pa.string()),
            "t_send": pc.fill_null(_column(table, "t_send", pa.int64()), 0),
            "id": pc.fill_null(_column(table, "id", pa.string()), ""),
            "host": pc.fill_null(_column(table, "host", pa.string()), ""),
            "text": _column(table, "text", pa.string()),
            "expected": _column(table, "expected", pa.list_(pa.string())),
        }
    ).sort_by([("prompt_id", "ascending"), ("t_send", "ascending"), ("id", "ascending")])

    texts = pc.unique(table.column("text"))
    text_index = pc.index_in(table.column("text"), value_set=texts).to_numpy().astype(np.int64)
    host_dict = pc.dictionary_encode(table.column("host").combine_chunks())
    prompt_ids: list[str] = table.column("prompt_id").to_pylist()

    groups: list[PromptGroup] = []
    start = 0
    for row in range(1, len(prompt_ids) + 1):
        if row == len(prompt_ids) or prompt_ids[row] != prompt_ids[start]:
            groups.append(PromptGroup(prompt_ids[start], start, row))
            start = row

    return Answers(
        ids=table.column("id").to_pylist(),
        hosts=host_dict.indices.to_numpy(zero_copy_only=False).astype(np.int64),
        host_names=host_dict.dictionary.to_pylist(),
        t_send=table.column("t_send").to_numpy(),
        text_index=text_index,
        texts=texts.to_pylist(),
        expected=[tuple(i for i in items or () if i) for items in table.column("expected").to_pylist()],
        groups=groups,
    )
