"""Reconstruction speed on one core: our chain, dspeed and a scipy.signal.find_peaks loop on the
same emulated waveforms (the same comparison as ``na64daq bench reco``).

    python bench/reco_throughput.py [--events 20000] [--json]
"""

import sys

from daq.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "reco", *sys.argv[1:]]))
