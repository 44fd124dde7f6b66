"""Entry point inside a sandbox: ``python3 -I -S /runtime/qdverdict/boot.py judge|server ...``.

``-I -S`` keeps site hooks, site-packages and the environment out; this file puts the runtime's
folder on ``sys.path`` (first for the judge; for the solution server after the stdlib, so that a
workspace file can shadow neither the stdlib nor this package) and runs the role.
"""

import os
import sys

if __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    role = sys.argv.pop(1) if len(sys.argv) > 1 else ""
    if role == "judge":
        sys.path.insert(0, root)
        from qdverdict.judge import main
    elif role == "server":
        sys.path.append(root)
        from qdverdict.server import main
    else:
        sys.exit(f"usage: {sys.argv[0]} judge|server ...")
    main()
