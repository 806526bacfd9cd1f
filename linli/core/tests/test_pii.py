"""Personal-data protection: keyring, AES-GCM and SM4-GCM, blind index, fields, masking, key rotation."""

import base64
import json
import stat
from io import StringIO

import pytest
from django.apps import apps
from django.core.exceptions import FieldError
from django.core.management import CommandError, call_command
from django.db import connection, models

from linli.core.pii import crypto, keys, rotation
from linli.core.pii.fields import BlindIndexField, EncryptedCharField, EncryptedTextField
from linli.core.pii.masking import PUBLIC, STAFF, MaskedValue, mask

ID_NUMBER = "11010519491231002X"  # the GB 11643 example number
PHONE = "13800138000"


@pytest.fixture(autouse=True)
def key_file(settings, tmp_path, monkeypatch):
    """Every test gets its own key file; none touches var/keys.json or a real LINLI_KEYS."""
    monkeypatch.delenv(keys.ENV_VAR, raising=False)
    settings.LINLI_KEY_FILE = tmp_path / "keys.json"
    settings.LINLI_PII_CIPHER = crypto.AES_256_GCM
    settings.LINLI_BLIND_INDEX = crypto.HMAC_SHA256
    return settings.LINLI_KEY_FILE


def add_data_key():
    keyring = keys.get_keyring().with_new_data_key()
    keys.write_keyring(keyring)
    return keyring


# --- keyring -------------------------------------------------------------------------------------------


def test_key_file_is_created_private_on_first_use(key_file):
    keyring = keys.get_keyring()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    document = json.loads(key_file.read_text())
    assert document["data_keys"]["current"] == keyring.data.current == "k1"
    assert document["blind_index_keys"]["current"] == "b1"
    assert len(base64.b64decode(document["data_keys"]["keys"]["k1"]["key"])) == 32
    assert keyring.data.current_key != keyring.blind.current_key
    assert keys.get_keyring() == keyring  # read once, then kept


def test_keys_from_the_environment_win_and_no_file_is_written(key_file, monkeypatch):
    keyring = keys.Keyring.generate()
    monkeypatch.setenv(keys.ENV_VAR, keyring.to_json())
    assert keys.get_keyring() == keyring
    assert not key_file.exists()


def test_a_running_process_sees_a_rotated_key_file():
    first = keys.get_keyring()
    add_data_key()
    assert keys.get_keyring().data.current == "k2"
    assert keys.get_keyring().data.get("k1") == first.data.current_key


def test_a_malformed_keyring_is_refused(key_file):
    key_file.write_text('{"format": 1, "data_keys": {"current": "k9", "keys": {}}}')
    with pytest.raises(keys.KeyringError):
        keys.get_keyring()


# --- encryption ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", crypto.CIPHERS)
def test_round_trip(settings, algorithm):
    settings.LINLI_PII_CIPHER = algorithm
    token = crypto.encrypt("张三丰 370103199001011238", associated_data="registry_person.name")
    assert token.startswith(f"v1:{algorithm}:k1:")
    assert "370103" not in token
    assert crypto.decrypt(token, associated_data="registry_person.name") == "张三丰 370103199001011238"
    again = crypto.encrypt("张三丰 370103199001011238", associated_data="registry_person.name")
    assert again != token  # a fresh nonce every time


@pytest.mark.parametrize("algorithm", crypto.CIPHERS)
def test_tampering_is_detected(settings, algorithm):
    settings.LINLI_PII_CIPHER = algorithm
    token = crypto.encrypt(PHONE, associated_data="t.phone")
    header, encoded = token.rsplit(":", 1)
    raw = bytearray(base64.b64decode(encoded))
    for position in (0, 12, len(raw) - 1):  # nonce, ciphertext, tag
        flipped = bytearray(raw)
        flipped[position] ^= 0x01
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(f"{header}:{base64.b64encode(bytes(flipped)).decode()}", associated_data="t.phone")
    with pytest.raises(crypto.DecryptionError):  # the same value moved to another column
        crypto.decrypt(token, associated_data="t.id_number")
    other = crypto.AES_256_GCM if algorithm == crypto.SM4_GCM else crypto.SM4_GCM
    with pytest.raises(crypto.DecryptionError):  # a relabelled header
        crypto.decrypt(token.replace(algorithm, other, 1), associated_data="t.phone")
    with pytest.raises(crypto.DecryptionError):  # a key that is not in the keyring
        crypto.decrypt(token.replace(":k1:", ":k7:", 1), associated_data="t.phone")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(PHONE, associated_data="t.phone")


def test_sm4_gcm_matches_rfc_8998_vector():
    vector = {name: bytes.fromhex(value) for name, value in crypto.SM4_GCM_VECTOR.items()}
    sealed = crypto.gcm_encrypt(
        crypto.SM4_GCM, vector["key"], vector["nonce"], vector["plaintext"], vector["aad"]
    )
    assert sealed.hex().upper() == (
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        "83DE3541E4C2B58177E065A9BF7B62EC"
    )
    assert (
        crypto.gcm_decrypt(crypto.SM4_GCM, vector["key"], vector["nonce"], sealed, vector["aad"])
        == (vector["plaintext"])
    )


def test_sm3_and_sm4_match_the_national_standard_examples():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    digest = hashes.Hash(hashes.SM3())
    digest.update(b"abc")
    assert digest.finalize().hex() == crypto.SM3_ABC  # GB/T 32905-2016 example
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert encryptor.update(key).hex() == "681edf34d206965e86b3e94f536e4246"  # GB/T 32907-2016 example
    crypto.self_test(crypto.SM4_GCM)


# --- blind index ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", crypto.BLIND_INDEX_ALGORITHMS)
def test_blind_index_is_stable_normalised_and_keyed(settings, algorithm):
    settings.LINLI_BLIND_INDEX = algorithm
    index = crypto.blind_index(ID_NUMBER.lower(), context="person.id_number", normalise=str.upper)
    assert index == crypto.blind_index(ID_NUMBER, context="person.id_number", normalise=str.upper)
    assert len(index) == 32 and int(index, 16) >= 0  # 128 bits, hex
    assert index != crypto.blind_index(ID_NUMBER, context="household.id_number", normalise=str.upper)
    other_keys = keys.Keyring.generate()
    assert index != crypto.blind_index(ID_NUMBER, context="person.id_number", keyring=other_keys)
    assert crypto.blind_index(PHONE, context="c", bits=64) == crypto.blind_index(PHONE, context="c")[:16]


def test_hmac_sm3_and_hmac_sha256_give_different_indexes(settings):
    sha = crypto.blind_index(PHONE, context="person.phone")
    settings.LINLI_BLIND_INDEX = crypto.HMAC_SM3
    assert crypto.blind_index(PHONE, context="person.phone") != sha


# --- masking (reference/standards.md §2.2 B) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "view", "masked"),
    [
        ("id_number", "370103199001011238", STAFF, "370***********1238"),
        ("id_number", "370103199001011238", PUBLIC, "3****************8"),
        ("id_number", "370103900101123", STAFF, "370*********123"),  # 15 digits: the birth date stays hidden
        ("phone", "13800138000", STAFF, "138****8000"),
        ("phone", "13800138000", PUBLIC, "138****8000"),
        ("name", "张三丰", STAFF, "张**"),
        ("name", "张三丰", PUBLIC, "张**"),
        ("name", "李四", STAFF, "李*"),
        ("address", "XX小区3号楼2单元501", STAFF, "XX小区3号楼****"),
        ("address", "XX小区3号楼2单元501", PUBLIC, "XX小区****"),
        ("address", "历下区经十路12号院3号楼2单元501", STAFF, "历下区经十路12号院3号楼****"),
        ("bank_card", "6222021234567891234", STAFF, "622202*********1234"),
        ("bank_card", "6222 0212 3456 7891 234", PUBLIC, "***************1234"),
        ("plate", "鲁A·D12345", STAFF, "鲁A·D12345"),
        ("plate", "鲁A·D12345", PUBLIC, "鲁A·D1**45"),
        ("plate", "鲁AB1234", PUBLIC, "鲁AB**34"),
        ("email", "zhangsan@example.com", STAFF, "z***@example.com"),
        ("secret", "糖尿病", STAFF, "******"),
    ],
)
def test_masks_follow_the_agreed_table(kind, value, view, masked):
    assert mask(kind, value, view) == masked


def test_mask_passes_empty_values_and_refuses_unknown_kinds():
    assert mask("phone", None) is None
    assert mask("phone", "") == ""
    with pytest.raises(ValueError):
        mask("shoe_size", "42")


def test_masked_value_prints_masked_everywhere_until_revealed():
    value = MaskedValue("id_number", "370103199001011238")
    assert str(value) == f"{value}" == "370***********1238"
    assert "19900101" not in repr(value) and "19900101" not in value.__html__()
    assert value.reveal() == "370103199001011238"


# --- fields --------------------------------------------------------------------------------------------


@pytest.fixture
def lone_field():
    from django.test.utils import isolate_apps

    with isolate_apps("linli.core"):

        class Lone(models.Model):
            phone = EncryptedCharField(max_length=11, null=True, blank=True)

            class Meta:
                app_label = "core"

            def __str__(self):
                return "lone"

        yield Lone._meta.get_field("phone")


def test_field_stores_ciphertext_and_returns_plaintext(lone_field):
    assert lone_field.associated_data == "core_lone.phone"
    stored = lone_field.get_prep_value(PHONE)
    assert stored.startswith("v1:aes-256-gcm:k1:") and PHONE not in stored
    assert lone_field.from_db_value(stored, None, connection) == PHONE
    assert lone_field.to_python(PHONE) == PHONE
    assert lone_field.get_prep_value(None) is None and lone_field.get_prep_value("") == ""
    assert lone_field.from_db_value(None, None, connection) is None
    assert lone_field.formfield().max_length == 11


def test_encrypted_fields_cannot_be_unique_or_indexed():
    with pytest.raises(TypeError):
        EncryptedCharField(max_length=18, unique=True)


# --- the ORM against a real table ----------------------------------------------------------------------


@pytest.fixture
def probe(transactional_db):
    """A model with encrypted fields, its table created and dropped around the test (SQLite, PostgreSQL)."""

    class PiiProbe(models.Model):
        name = EncryptedCharField(max_length=50, blank=True, default="")
        id_number = EncryptedCharField(max_length=18, null=True, blank=True)
        id_number_index = BlindIndexField(source="id_number", normalise=str.upper)
        notes = EncryptedTextField(null=True, blank=True)

        class Meta:
            app_label = "core"
            db_table = "core_pii_probe"

        def __str__(self):
            return "probe"

    with connection.schema_editor() as editor:
        editor.create_model(PiiProbe)
    try:
        yield PiiProbe
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(PiiProbe)
        del apps.all_models["core"]["piiprobe"]
        apps.clear_cache()


def raw_rows():
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, name, id_number, id_number_index, notes FROM core_pii_probe ORDER BY id")
        return cursor.fetchall()


def test_orm_writes_only_ciphertext_and_finds_by_blind_index(probe):
    person = probe.objects.create(name="张三丰", id_number=ID_NUMBER, notes="独居老人,住3号楼")
    probe.objects.create(name="李四", id_number="370103199001011238")
    probe.objects.bulk_create([probe(name="王五", id_number="370103198001011234")])

    for _pk, *columns in raw_rows():
        for value in columns:
            secrets = ("张三丰", "李四", "王五", "3701", "独居")
            assert value is None or all(secret not in value for secret in secrets)
    _pk, name, id_number, index, _notes = raw_rows()[0]
    assert name.startswith("v1:aes-256-gcm:k1:") and id_number.startswith("v1:")
    assert index == crypto.blind_index(ID_NUMBER, context="core_pii_probe.id_number")

    again = probe.objects.get(pk=person.pk)
    assert (again.name, again.id_number, again.notes) == ("张三丰", ID_NUMBER, "独居老人,住3号楼")
    assert list(probe.objects.filter(id_number__blind=ID_NUMBER.lower())) == [person]
    assert probe.objects.filter(id_number__blind="110105194912310039").count() == 0
    assert probe.objects.filter(notes__isnull=True).count() == 2
    with pytest.raises(FieldError, match="encrypted"):
        probe.objects.filter(id_number=ID_NUMBER).count()
    with pytest.raises(FieldError, match="BlindIndexField"):
        probe.objects.filter(name__blind="张三丰").count()


def test_ciphertext_moved_to_another_column_does_not_decrypt(probe):
    probe.objects.create(name="张三丰", notes="x")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_pii_probe SET notes = name")
    with pytest.raises(crypto.DecryptionError):
        probe.objects.get()


def test_saving_an_encrypted_field_alone_would_leave_its_index_stale(probe):
    person = probe.objects.create(id_number=ID_NUMBER)
    person.id_number = "370103199001011238"
    with pytest.raises(ValueError, match="id_number_index"):
        person.save(update_fields=["id_number"])
    person.save(update_fields=["id_number", "id_number_index"])
    assert probe.objects.get(id_number__blind="370103199001011238") == person


def test_rotation_reencrypts_while_old_keys_still_decrypt(probe, key_file):
    people = [probe.objects.create(name=f"居民{n}", id_number=f"37010319900101{n:04d}") for n in range(7)]
    old_token = raw_rows()[0][1]

    add_data_key()  # the rotation has begun: new writes use k2, k1 rows are not yet re-encrypted
    newcomer = probe.objects.create(name="新居民", notes="后到")
    assert [p.name for p in probe.objects.order_by("id")] == [p.name for p in people] + ["新居民"]
    assert raw_rows()[-1][1].startswith("v1:aes-256-gcm:k2:")
    assert rotation.stale_count(probe) == 7

    output = StringIO()
    call_command("rotate_keys", "--reencrypt-only", "--batch-size", "3", stdout=output)
    assert "core.PiiProbe: 7 rows re-encrypted, 0 failed" in output.getvalue()
    assert all(name.startswith("v1:aes-256-gcm:k2:") for _pk, name, *_ in raw_rows())
    assert rotation.stale_count(probe) == 0
    assert crypto.decrypt(old_token, associated_data="core_pii_probe.name") == "居民0"  # k1 is kept
    assert probe.objects.get(pk=newcomer.pk).notes == "后到"
    assert probe.objects.get(id_number__blind="370103199001010003").name == "居民3"

    output = StringIO()
    call_command("rotate_keys", stdout=output)  # a whole run: key k3, then everything re-encrypted
    assert "New current data key k3" in output.getvalue()
    assert set(keys.get_keyring().data.keys) == {"k1", "k2", "k3"}
    assert all(row[1].startswith("v1:aes-256-gcm:k3:") for row in raw_rows())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_rotation_moves_data_to_sm4_when_chosen(probe, settings):
    probe.objects.create(name="张三丰", id_number=ID_NUMBER)
    settings.LINLI_PII_CIPHER = crypto.SM4_GCM
    call_command("rotate_keys", "--reencrypt-only", stdout=StringIO())
    _pk, name, id_number, _index, _notes = raw_rows()[0]
    assert name.startswith("v1:sm4-gcm:k1:") and id_number.startswith("v1:sm4-gcm:k1:")
    assert probe.objects.get(id_number__blind=ID_NUMBER).name == "张三丰"


def test_blind_index_rotation_recomputes_every_index(probe):
    person = probe.objects.create(name="张三丰", id_number=ID_NUMBER)
    old_index = raw_rows()[0][3]
    keys.write_keyring(keys.get_keyring().with_new_blind_key())
    assert probe.objects.get(id_number__blind=ID_NUMBER) == person  # found under b1 while b2 is current

    output = StringIO()
    call_command("rotate_keys", "--reencrypt-only", "--blind-index", stdout=output)
    assert "core.PiiProbe: 1 indexes recomputed" in output.getvalue()
    assert set(keys.get_keyring().blind.keys) == {"b2"}  # the old blind-index key is gone
    assert raw_rows()[0][3] not in (old_index, None)
    assert probe.objects.get(id_number__blind=ID_NUMBER) == person


def test_rotation_reports_values_it_cannot_decrypt(probe):
    probe.objects.create(name="张三丰")
    probe.objects.create(name="李四")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_pii_probe SET notes = name")  # now bound to the wrong column
    add_data_key()
    with pytest.raises(CommandError, match="2 values could not be decrypted"):
        call_command("rotate_keys", "--reencrypt-only", stdout=StringIO())
    assert all(row[1].startswith("v1:aes-256-gcm:k2:") for row in raw_rows())  # the good values moved on


def test_rotation_with_keys_in_the_environment_emits_a_keyring(monkeypatch, key_file):
    keyring = keys.Keyring.generate()
    monkeypatch.setenv(keys.ENV_VAR, keyring.to_json())
    with pytest.raises(CommandError, match="--emit-keyring"):
        call_command("rotate_keys", stdout=StringIO())
    output = StringIO()
    call_command("rotate_keys", "--emit-keyring", stdout=output)
    emitted = keys.Keyring.from_json(output.getvalue())
    assert emitted.data.current == "k2" and emitted.data.get("k1") == keyring.data.current_key
    assert not key_file.exists()
