"""The keys file the gateway role renders (templates/etc/litellm/keys.yaml.j2), read by the
key hook: each developer gets the local model unless the inventory grants more."""

from __future__ import annotations

import hashlib

from tests.conftest import REPO, load_file
from tests.support import role_templates

auth = load_file("ccprov_auth_render", REPO / "roles/litellm_gateway/files/ccprov_auth.py")


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def test_each_developer_gets_the_local_model_unless_granted_more(tmp_path) -> None:
    dest = tmp_path / "keys.yaml"
    proc = role_templates.render(
        tmp_path / "render",
        [role_templates.Job("litellm_gateway", "etc/litellm/keys.yaml.j2", dest)],
        {
            "litellm_gateway_developer_keys": {
                "alice": {"sha256": sha("sk-alice"), "created": "2026-12-06"},
                "bob": {"sha256": sha("sk-bob"), "models": ["devstral", "claude-cloud"]},
            }
        },
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    developers = auth.parse_keys_file(str(dest))
    assert developers["alice"]["models"] == ["devstral"]
    assert developers["bob"]["models"] == ["devstral", "claude-cloud"]
    store = auth.KeyStore(path=str(dest))
    alice = store.check("sk-alice")
    assert auth.model_refused_message(alice, "devstral") is None
    assert "may not use model 'claude-cloud'" in auth.model_refused_message(alice, "claude-cloud")
    assert auth.model_refused_message(store.check("sk-bob"), "claude-cloud") is None
