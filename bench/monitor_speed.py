"""The monitor's numbers (``na64daq bench monitor`` prints the same): the tap's histogram
filling rate on one core, the snapshot's size and cost, each panel's redraw time."""

import json
import sys

from monitor.benchmark import measure, print_result

if __name__ == "__main__":
    result = measure()
    print(json.dumps(result, indent=1) if "--json" in sys.argv else "", end="")
    if "--json" not in sys.argv:
        print_result(result)
