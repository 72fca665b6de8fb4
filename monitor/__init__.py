"""Online monitor (Qt/pyqtgraph); fed by the monitor tap and by run files."""
