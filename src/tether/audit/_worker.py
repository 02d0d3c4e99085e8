"""Entry point of an audit worker process (see ``tether.audit.parallel``): ``python -m
tether.audit._worker``. Kept apart from ``parallel`` so that running it does not import the
module it executes twice."""

from tether.audit.parallel import _worker_main

if __name__ == "__main__":
    _worker_main()
