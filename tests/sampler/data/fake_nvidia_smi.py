"""Stand-in for ``nvidia-smi --query-gpu=... --format=csv,noheader,nounits -lms N`` (tests only).

It checks the arguments as nvidia-smi does (known query fields, the csv format, -lms), then prints frames
of real nvidia-smi CSV output read from ``$FAKE_SMI_FRAMES`` (frames separated by blank lines), one frame
per loop, cycling, flushing after each frame. ``$FAKE_SMI_MODE``:
- ``loop`` (default): forever, until terminated;
- ``no-driver``: print nvidia-smi's message for a host without a working driver and exit 9;
- ``lost-after:N``: after N frames print the "GPU is lost" error nvidia-smi prints and exit 15.
``$FAKE_SMI_PIDFILE``, when set, receives the process id.
"""

import os
import sys
import time

VALID_FIELDS = {
    "index", "uuid", "name", "utilization.gpu", "utilization.memory", "memory.used", "memory.total",
    "memory.free", "power.draw", "temperature.gpu", "clocks.sm", "clocks.mem", "pci.bus_id", "timestamp",
}  # fmt: skip


def main(argv: list[str]) -> int:
    if os.environ.get("FAKE_SMI_PIDFILE"):
        with open(os.environ["FAKE_SMI_PIDFILE"], "w") as fh:
            fh.write(str(os.getpid()))
    mode = os.environ.get("FAKE_SMI_MODE", "loop")
    if mode == "no-driver":
        print(
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
            "Make sure that the latest NVIDIA driver is installed and running.",
            flush=True,
        )
        return 9
    query = next((a.split("=", 1)[1] for a in argv if a.startswith("--query-gpu=")), None)
    if query is None:
        print("Missing --query-gpu", flush=True)
        return 2
    for name in query.split(","):
        if name not in VALID_FIELDS:
            print(f'Field "{name}" is not a valid field to query.', flush=True)
            return 2
    if "--format=csv,noheader,nounits" not in argv or "-lms" not in argv:
        print("unexpected arguments: " + " ".join(argv), flush=True)
        return 2
    interval_s = int(argv[argv.index("-lms") + 1]) / 1000
    with open(os.environ["FAKE_SMI_FRAMES"]) as fh:
        frames = [f.strip("\n") for f in fh.read().split("\n\n") if f.strip()]
    lost_after = int(mode.split(":", 1)[1]) if mode.startswith("lost-after:") else None
    n = 0
    while True:
        if lost_after is not None and n >= lost_after:
            print(
                "Unable to determine the device handle for GPU0000:3B:00.0: GPU is lost.  "
                "Reboot the system to recover this GPU",
                flush=True,
            )
            return 15
        sys.stdout.write(frames[n % len(frames)] + "\n")
        sys.stdout.flush()
        n += 1
        time.sleep(interval_s)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
