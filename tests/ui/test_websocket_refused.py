"""The dashboard serves no websocket: an upgrade, with or without the token, is refused with 403
by the real server (uvicorn), never answered with a 500."""

from __future__ import annotations

import pytest
from _dashboard import Dashboard
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect


@pytest.mark.parametrize("authorised", [False, True])
def test_a_websocket_upgrade_is_refused_with_403(dashboard: Dashboard, authorised: bool) -> None:
    headers = {"Authorization": f"Bearer {dashboard.token}"} if authorised else {}
    url = dashboard.url.replace("http://", "ws://") + "/memory"
    with pytest.raises(InvalidStatus) as info:
        connect(url, additional_headers=headers, open_timeout=10).close()
    assert info.value.response.status_code == 403
