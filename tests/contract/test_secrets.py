"""Contract suite for the Secrets port (LocalSecrets; KmsSecrets against the KMS stand-in, the
real client over REST) and the key file's safety checks."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.adapters.kms_secrets import KmsSecrets
from shared.adapters.local_secrets import LocalSecrets
from shared.errors import ConfigError, ErrandError, InvalidInput
from shared.gcp_settings import GcpSettings
from shared.ports import Secrets

MakeSecrets = Callable[[], Secrets]


def _conforms(a: LocalSecrets, b: KmsSecrets) -> list[Secrets]:
    return [a, b]  # mypy checks that they implement the port


@pytest.fixture(params=["local", "kms"])
def make_secrets(request: pytest.FixtureRequest, tmp_path: Path) -> MakeSecrets:
    """Returns a factory: two instances from it share one key (two processes on one host)."""
    if request.param == "kms":
        settings: GcpSettings = request.getfixturevalue("standin_settings")
        return lambda: KmsSecrets(settings)
    return lambda: LocalSecrets(tmp_path / "keys" / "master.key")


@pytest.mark.parametrize("plaintext", [b"", b"ghp_token123", bytes(range(256)) * 4096])
def test_round_trip(make_secrets: MakeSecrets, plaintext: bytes) -> None:
    sealed = make_secrets().encrypt(plaintext, "user:42")
    assert plaintext not in sealed or plaintext == b""
    assert make_secrets().decrypt(sealed, "user:42") == plaintext


def test_each_encryption_is_fresh(make_secrets: MakeSecrets) -> None:
    secrets = make_secrets()
    one, two = secrets.encrypt(b"same", "user:42"), secrets.encrypt(b"same", "user:42")
    assert one != two


def test_wrong_context_fails(make_secrets: MakeSecrets) -> None:
    secrets = make_secrets()
    sealed = secrets.encrypt(b"sk-live-key", "user:42")
    with pytest.raises(InvalidInput, match="could not decrypt"):
        secrets.decrypt(sealed, "user:43")


def test_tampering_anywhere_fails(make_secrets: MakeSecrets) -> None:
    secrets = make_secrets()
    sealed = secrets.encrypt(b"sk-live-key", "user:42")
    for position in range(len(sealed)):
        altered = bytearray(sealed)
        altered[position] ^= 0x01
        with pytest.raises(InvalidInput):
            secrets.decrypt(bytes(altered), "user:42")
    for cut in (1, 17, len(sealed) - 1):
        with pytest.raises(InvalidInput):
            secrets.decrypt(sealed[:cut], "user:42")
    with pytest.raises(InvalidInput):
        secrets.decrypt(sealed + b"x", "user:42")


# ---------------------------------------------------------------------------- KmsSecrets


def test_kms_wraps_only_the_data_key_and_another_key_cannot_unwrap(
    standin_settings: GcpSettings,
) -> None:
    secrets = KmsSecrets(standin_settings)
    big = bytes(range(256)) * 4096  # 1 MiB: more than KMS accepts, so it never goes there
    sealed = secrets.encrypt(big, "user:42")
    assert secrets.decrypt(sealed, "user:42") == big
    other = standin_settings.kms_key.replace("credentials", "other")
    with pytest.raises(InvalidInput, match="another KMS key"):
        KmsSecrets(standin_settings.model_copy(update={"kms_key": other})).decrypt(
            sealed, "user:42"
        )


def test_kms_without_a_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ERRAND_KMS_KEY"):
        KmsSecrets(GcpSettings())


def test_kms_unreachable_is_an_error_that_names_the_key(standin_settings: GcpSettings) -> None:
    down = standin_settings.model_copy(update={"api_endpoint": "http://127.0.0.1:9"})
    with pytest.raises(ErrandError, match="could not wrap a data key with projects/"):
        KmsSecrets(down).encrypt(b"x", "c")


# ---------------------------------------------------------------------------- LocalSecrets


def test_key_file_is_created_private(tmp_path: Path) -> None:
    key_file = tmp_path / "home" / "keys" / "master.key"
    secrets = LocalSecrets(key_file)
    assert not key_file.exists()  # nothing happens until first use
    secrets.encrypt(b"x", "c")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert len(key_file.read_bytes()) == 32
    assert [p.name for p in key_file.parent.iterdir()] == ["master.key"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "master.key"
    sealed = LocalSecrets(key_file).encrypt(b"x", "c")
    key_file.chmod(mode)
    with pytest.raises(ConfigError, match="chmod 600"):
        LocalSecrets(key_file).decrypt(sealed, "c")


def test_damaged_key_file_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_bytes(b"short")
    key_file.chmod(0o600)
    with pytest.raises(ConfigError, match="damaged"):
        LocalSecrets(key_file).encrypt(b"x", "c")


def test_another_master_key_cannot_decrypt(tmp_path: Path) -> None:
    sealed = LocalSecrets(tmp_path / "a.key").encrypt(b"x", "c")
    with pytest.raises(InvalidInput, match="another master key"):
        LocalSecrets(tmp_path / "b.key").decrypt(sealed, "c")


def test_unknown_format_version_is_explained(tmp_path: Path) -> None:
    secrets = LocalSecrets(tmp_path / "master.key")
    sealed = bytearray(secrets.encrypt(b"x", "c"))
    sealed[3] = 9
    with pytest.raises(InvalidInput, match="format version 9"):
        secrets.decrypt(bytes(sealed), "c")


def test_rotation_rewraps_without_touching_the_data(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "master.key"
    writer, other_process = LocalSecrets(key_file), LocalSecrets(key_file)
    sealed = writer.encrypt(b"sk-canary", "user:u_1|provider:openai")
    old_key = key_file.read_bytes()
    other_process.rotate()
    assert key_file.read_bytes() != old_key
    # not yet re-wrapped: still opens through the retired key, in every process
    assert writer.decrypt(sealed, "user:u_1|provider:openai") == b"sk-canary"
    fresh = writer.encrypt(b"new", "c")  # the writer noticed the rotation
    rewrapped = writer.rewrap(sealed, "user:u_1|provider:openai")
    assert rewrapped != sealed and rewrapped[-37:] == sealed[-37:]  # same data nonce and ciphertext
    assert writer.rewrap(rewrapped, "user:u_1|provider:openai") == rewrapped
    with pytest.raises(InvalidInput):
        writer.rewrap(sealed, "user:u_2|provider:openai")  # the context still binds
    assert other_process.retire() == 1
    assert not list((key_file.parent / "retired").iterdir())
    reader = LocalSecrets(key_file)
    assert reader.decrypt(rewrapped, "user:u_1|provider:openai") == b"sk-canary"
    assert reader.decrypt(fresh, "c") == b"new"
    with pytest.raises(InvalidInput, match="retired"):
        reader.decrypt(sealed, "user:u_1|provider:openai")
