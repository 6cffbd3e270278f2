"""Remote reconstruction: `vidihand serve` on a GPU machine, reached directly or through SSH.

protocol (framing and messages), paths (what names a client may send), blobs (uploads),
jobs (jobs on disk), runner (worker threads), server (listening socket), session (one
connection on the server), client (one connection), tunnel
(direct / OpenSSH endpoints), backend (RemoteReconstructor), cli_options (reconstruct's flags).
See docs/remote.md.
"""
