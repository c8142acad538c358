"""The README says where `make run` keeps the sandbox server key (issue 12, item 10), and
that is where devstack takes the key it hands to the sandbox and the marketplace."""

from __future__ import annotations

import json
from pathlib import Path

from devstack import keys
from devstack.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


def test_the_sandbox_key_of_make_run_is_the_one_in_data_dir_secrets_json(tmp_path):
    stack = Stack(tmp_path, ports={"gateway": 1, "storefront": 2, "transaction": 3,
                                   "sandbox": 4, "postgres": 5})
    stack.secrets = keys.ensure_secrets(tmp_path)
    stored = json.loads((tmp_path / "secrets.json").read_text())["sandbox_server_key"]
    assert stored != "sandbox-server-key"
    assert stack.env("sandbox")["SANDBOX_SERVER_KEY"] == stored

    readme = (ROOT / "README.md").read_text()
    assert "DATA_DIR/secrets.json" in readme and '"sandbox_server_key"' in readme
