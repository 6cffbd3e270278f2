"""Workers that run long jobs (reconstruction) away from the GUI and stream typed messages back.

`messages` defines the message types (plain dataclasses of numpy arrays and strings, no Qt, no
pickled objects of our own classes beyond those), `process` runs a job in a local child process.
A remote worker (SSH tunnel) can reuse the same messages.
"""
