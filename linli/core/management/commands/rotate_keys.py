"""`linli manage rotate_keys`: a new data-encryption key, then every encrypted field re-encrypted with it."""

from django.core.management.base import BaseCommand, CommandError

from linli.core.pii import crypto, keys, rotation


class Command(BaseCommand):
    help = (
        "Add a new current data-encryption key to the key file and re-encrypt every encrypted field with "
        "it, in short batches while the service keeps running (old keys still decrypt). Also re-encrypts "
        "values written with another cipher than LINLI_PII_CIPHER. See docs/security-keys.md."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reencrypt-only",
            action="store_true",
            help="Add no key: finish an interrupted run, or move data to a newly chosen cipher.",
        )
        parser.add_argument(
            "--blind-index",
            action="store_true",
            help="Also add a new blind-index key, recompute every blind index, then drop the old one.",
        )
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--emit-keyring",
            action="store_true",
            help="With keys in LINLI_KEYS: print the keyring with a new key added, for the secret "
            "store; change nothing.",
        )

    def handle(self, *args, reencrypt_only, blind_index, batch_size, emit_keyring, **options):
        crypto.self_test(crypto.configured_cipher())
        if crypto.configured_blind_index() == crypto.HMAC_SM3:
            crypto.self_test(crypto.SM4_GCM)
        if emit_keyring:
            keyring = keys.get_keyring().with_new_data_key()
            self.stdout.write((keyring.with_new_blind_key() if blind_index else keyring).to_json(), ending="")
            return
        if not reencrypt_only:
            self._add_keys(blind_index)

        keyring = keys.get_keyring()
        self.stdout.write(f"Re-encrypting with key {keyring.data.current} ({crypto.configured_cipher()}).")
        failed = 0
        for model in rotation.models_with("encrypted"):
            counts = rotation.reencrypt_model(model, batch_size=batch_size, keyring=keyring)
            failed += counts["failed"]
            self.stdout.write(
                f"  {model._meta.label}: {counts['reencrypted']} rows re-encrypted, {counts['failed']} failed"
            )
        if blind_index:
            self.stdout.write(f"Recomputing blind indexes with key {keyring.blind.current}.")
            index_failed = 0
            for model in rotation.models_with("blind"):
                counts = rotation.reindex_model(model, batch_size=batch_size)
                index_failed += counts["failed"]
                self.stdout.write(
                    f"  {model._meta.label}: {counts['reindexed']} indexes recomputed, "
                    f"{counts['failed']} failed"
                )
            failed += index_failed
            if not index_failed and len(keyring.blind.keys) > 1:
                self._drop_old_blind_keys()
        if failed:
            raise CommandError(
                f"{failed} values could not be decrypted (unknown key or altered data); they were left "
                "as they are."
            )
        self.stdout.write(self.style.SUCCESS("Done."))

    def _add_keys(self, blind_index: bool) -> None:
        if keys.keys_from_environment():
            raise CommandError(
                "The keys come from LINLI_KEYS, which Linli cannot rewrite. Run `linli manage "
                "rotate_keys --emit-keyring` (add --blind-index for a new blind-index key), store its output "
                "as LINLI_KEYS, restart every process, then run `linli manage rotate_keys --reencrypt-only` "
                "(with --blind-index if you added one)."
            )
        keys.get_keyring()  # creates the key file in the embedded mode if there is none yet
        with keys.locked_key_file() as path:
            keyring = keys.Keyring.from_json(path.read_text()).with_new_data_key()
            if blind_index:
                keyring = keyring.with_new_blind_key()
            keys.write_keyring(keyring, path)
        self.stdout.write(f"New current data key {keyring.data.current} written to {path}.")
        if blind_index:
            self.stdout.write(f"New current blind-index key {keyring.blind.current}.")

    def _drop_old_blind_keys(self) -> None:
        if keys.keys_from_environment():
            self.stdout.write(
                "Every blind index now uses the current key: remove the old ones from LINLI_KEYS."
            )
            return
        with keys.locked_key_file() as path:
            keys.write_keyring(keys.Keyring.from_json(path.read_text()).without_old_blind_keys(), path)
        self.stdout.write("Old blind-index keys removed from the key file.")
