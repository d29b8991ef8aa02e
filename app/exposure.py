"""Who can reach the dashboard, and whether it may then run without a password.

Anyone who reaches the dashboard can queue runs of any size, register folders and cancel runs. So when it is
reachable beyond this machine (it listens on, or is published at, an address other than loopback), it needs
``Y8M_APP_PASSWORD``, or ``Y8M_APP_OPEN=1`` saying that being open is intended (a trusted network, or a proxy
in front that authenticates). ``app/serve.py`` (``make run``) refuses to start otherwise; the app itself
(``streamlit run app/main.py``, as ``docker-compose.yml`` runs it) shows only this error.

In a container the app listens on every interface and what matters is where the port is published:
``Y8M_APP_PUBLISHED`` (``docker-compose.yml`` passes ``Y8M_PUBLISH_ADDRESS`` there) replaces the listening
address in the check. Wrong passwords are slowed down for every session at once (``WRONG_PASSWORD_SECONDS``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

WRONG_PASSWORD_SECONDS = 2.0


def loopback(address: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``; ``0.0.0.0``, ``::`` (every interface) and other names are not."""
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(listening: str, env: Mapping[str, str]) -> str | None:
    """Why the dashboard must not run open, or None: reachable beyond this machine (``Y8M_APP_PUBLISHED``, else
    ``listening``) with no ``Y8M_APP_PASSWORD`` and without ``Y8M_APP_OPEN=1``."""
    reachable = env.get("Y8M_APP_PUBLISHED") or listening
    if loopback(reachable) or env.get("Y8M_APP_PASSWORD") or env.get("Y8M_APP_OPEN") == "1":
        return None
    where = "published at" if env.get("Y8M_APP_PUBLISHED") else "listening on"
    return (f"the dashboard would be {where} {reachable}, reachable beyond this machine, without a password: "
            "anyone reaching it could queue runs, register folders and cancel runs. Set Y8M_APP_PASSWORD (and put "
            "TLS in front: README, 'Dashboard'), or Y8M_APP_OPEN=1 if an open dashboard is intended.")
