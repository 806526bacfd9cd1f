"""Broker mode: a real Mosquitto with the configuration `linli ingest mosquitto-config` writes, devices as
paho clients (MQTT 3.1.1 and 5), and ingest workers with persistent sessions (in a thread, or as
`linli ingest --broker` subprocesses that are killed with SIGKILL), one or two partitions, or on a shared
subscription."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import paho.mqtt.client as mqtt
import pytest

from linli.ingest.broker import parse_partition, partition_of
from linli.ingest.mosquitto import check_password, password_hash
from linli.iot import services
from linli.iot.models import Alarm, Attribute, Downlink, RejectCounter, Telemetry
from linli.iot.models import Device as DeviceRow

from .conftest import WorkerDatabase, start_worker, wait_for
from .test_gateway import VERSIONS, Device


def topic(device, rest: str) -> str:
    return f"v1/devices/{device.access_token}/{rest}"


@pytest.fixture
def connect(mosquitto):
    opened = []

    def open_device(device, version="5", **kwargs):
        token = device if isinstance(device, str) else device.access_token
        client = Device(mosquitto.port, token, VERSIONS[version], password=token, **kwargs)
        opened.append(client)
        return client

    yield open_device
    for client in opened:
        client.close()


def stored(device):
    return sorted(Telemetry.objects.filter(device=device).values_list("key", "ts", "num"))


def now_ms():
    return int(time.time() * 1000)


def test_password_file_hashes_are_mosquittos_pbkdf2_sha512():
    line = password_hash("s3cret", salt=b"0123456789ab")
    assert line.startswith("$7$101$") and check_password(line, "s3cret") and not check_password(line, "x")
    # the same hash mosquitto_passwd writes, byte for byte given the salt
    assert line == "$7$101$MDEyMzQ1Njc4OWFi$" + line.rsplit("$", 1)[1]


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_every_telemetry_form_through_mosquitto(devices, worker, connect, version):
    client = connect(devices.device, version)
    ts = now_ms() - 60_000
    client.publish(topic(devices.device, "telemetry"), {"temperature": 21.5})
    client.publish(topic(devices.device, "telemetry"), [{"humidity": 45}])
    client.publish(topic(devices.device, "telemetry"), {"ts": ts, "values": {"temperature": 22.0}})
    batch = [
        {"ts": ts + 1000, "values": {"temperature": 23.0}},
        {"ts": ts + 2000, "values": {"temperature": 24}},
    ]
    client.publish(topic(devices.device, "telemetry"), batch)
    assert wait_for(lambda: len(stored(devices.device)) == 5)
    assert ("temperature", ts + 2000, 24.0) in stored(devices.device)


def test_attributes_request_and_shared_update_through_mosquitto(devices, worker, connect):
    services.set_shared_attributes(devices.device, {"targetTemp": 23})
    client = connect(devices.device)
    client.subscribe(topic(devices.device, "attributes/response/+"), topic(devices.device, "attributes"))
    client.publish(topic(devices.device, "attributes"), {"model": "T-1"})
    assert wait_for(lambda: Attribute.objects.filter(device=devices.device, key="model").exists())
    client.publish(
        topic(devices.device, "attributes/request/3"), {"clientKeys": "model", "sharedKeys": "targetTemp"}
    )
    answer = client.received(topic(devices.device, "attributes/response/3"))
    assert answer == {"client": {"model": "T-1"}, "shared": {"targetTemp": 23}}
    services.set_shared_attributes(devices.device, {"reportPeriod": 30})
    assert wait_for(lambda: (topic(devices.device, "attributes"), {"reportPeriod": 30}) in client.messages)
    # our own push on the shared topic was not taken for the device's client attributes
    assert not Attribute.objects.filter(device=devices.device, scope="client", key="reportPeriod").exists()


def test_rpc_both_ways_and_session_limits_through_mosquitto(devices, worker, connect):
    client = connect(devices.device)
    client.subscribe(topic(devices.device, "rpc/request/+"), topic(devices.device, "rpc/response/+"))
    command = services.send_rpc(devices.device, "setGpio", {"pin": 4})
    assert client.received(topic(devices.device, f"rpc/request/{command.rpc_id}")) == {
        "method": "setGpio",
        "params": {"pin": 4},
    }
    client.publish(topic(devices.device, f"rpc/response/{command.rpc_id}"), {"pin": 4, "ok": True})
    assert wait_for(lambda: Downlink.objects.get(pk=command.pk).status == "successful")
    client.publish(topic(devices.device, "rpc/request/41"), {"method": "getSessionLimits", "params": {}})
    limits = wait_for(
        lambda: [p for t, p in client.messages if t.endswith("rpc/response/41") and "maxPayloadSize" in p]
    )
    assert limits and limits[0]["maxInflightMessages"] > 0


def test_bad_json_and_unknown_token_through_mosquitto(devices, worker, connect, mosquitto):
    client = connect(devices.device)
    client.publish(topic(devices.device, "telemetry"), b"{nope")
    client.publish(topic(devices.device, "telemetry"), {"temperature": 20})
    assert wait_for(lambda: len(stored(devices.device)) == 1)
    assert wait_for(lambda: RejectCounter.objects.filter(reason="malformed_payload").exists())
    stranger = Device(
        mosquitto.port, "NOT-A-KNOWN-token-0000", mqtt.MQTTv5, password="NOT-A-KNOWN-token-0000"
    )
    stranger.client.loop_stop()
    assert stranger.connack[0] == 0x87  # Mosquitto refuses it: not in the password file


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_mosquitto_refuses_a_device_publishing_to_another_devices_topic(devices, worker, connect, version):
    for forbidden in (topic(devices.other, "telemetry"), "v1/devices/me/telemetry"):
        client = connect(devices.device, version)
        info = client.client.publish(forbidden, b'{"temperature": 99}', qos=1)
        # Mosquitto 2.0 closes the connection of a client that publishes where its ACL denies it (MQTT 5:
        # after a PUBACK with reason 0x87, which the client may or may not read before the socket closes)
        assert wait_for(lambda c=client: c.disconnects)
        if version == "5" and info.mid in client.acks:
            assert client.acks[info.mid] == 0x87
        client.close()
    client = connect(devices.device, version)
    # Mosquitto grants any SUBSCRIBE but applies the read ACL on delivery: nothing of the other device arrives
    client.client.subscribe(topic(devices.other, "rpc/request/+"), qos=1)
    client.publish(topic(devices.device, "telemetry"), {"temperature": 20})
    assert wait_for(lambda: len(stored(devices.device)) == 1)
    assert stored(devices.other) == []
    services.send_rpc(devices.other, "open_door", {})
    time.sleep(1.5)
    assert not [t for t, _ in client.messages if devices.other.access_token in t]


def test_gateway_topics_through_mosquitto(devices, worker, connect):
    gateway = connect(devices.gateway)
    token = devices.gateway.access_token
    gateway.publish(f"v1/gateway/{token}/connect", {"device": "Meter-9", "type": "water_meter"})
    ts = now_ms() - 1000
    gateway.publish(f"v1/gateway/{token}/telemetry", {"Meter-9": [{"ts": ts, "values": {"volume_m3": 1.5}}]})
    child = wait_for(lambda: DeviceRow.objects.filter(name="Meter-9", gateway=devices.gateway).first())
    assert child is not None
    assert wait_for(lambda: stored(child) == [("volume_m3", ts, 1.5)])
    # a command for the child goes to the gateway's topic, naming the child
    gateway.subscribe(f"v1/gateway/{token}/rpc")
    command = services.send_rpc(child, "closeValve", {"valve": 1})
    assert gateway.received(f"v1/gateway/{token}/rpc") == {
        "device": "Meter-9",
        "data": {"id": command.rpc_id, "method": "closeValve", "params": {"valve": 1}},
    }


def test_alarm_from_a_message_through_mosquitto(devices, worker, connect):
    client = connect(devices.device)
    client.publish(topic(devices.device, "telemetry"), {"temperature": 90})
    assert wait_for(lambda: Alarm.objects.filter(device=devices.device, type="high_temperature").exists())


# --- no loss, no duplicate ----------------------------------------------------------------------------------


class Publisher:
    """A persistent QoS 1 device session that keeps sending while workers or the broker go away."""

    def __init__(self, port, device):
        self.token = device.access_token
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"pub-{self.token}",
            protocol=mqtt.MQTTv311,
            clean_session=False,
        )
        self.client.username_pw_set(self.token, self.token)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.1, 1)
        self.acked: set[int] = set()
        self.client.on_publish = lambda c, u, mid, rc, props: self.acked.add(mid)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        self.infos = []
        self.base = now_ms() - 3_600_000

    def send(self, start: int, count: int) -> None:
        for n in range(start, start + count):
            payload = f'{{"ts":{self.base + n},"values":{{"seq":{n}}}}}'
            self.infos.append(self.client.publish(f"v1/devices/{self.token}/telemetry", payload, qos=1))

    def all_acknowledged(self, timeout=60) -> bool:
        # (is_published() raises for messages queued while the broker was down: count PUBACKs instead)
        return wait_for(lambda: all(info.mid in self.acked for info in self.infos), timeout, 0.2)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def _worker_process(mosquitto, env, log, *options):
    return subprocess.Popen(
        [sys.executable, "-m", "linli.cli", "ingest", "--broker", mosquitto.url, *options],
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )


def test_no_loss_no_duplicate_when_a_worker_is_killed(devices, mosquitto, tmp_path):
    database = WorkerDatabase(tmp_path, devices.device)
    env = database.env
    log = tmp_path / "worker.log"
    process = _worker_process(mosquitto, env, log)
    # the worker's subscription must exist first: the broker keeps nothing for a session it has not seen
    assert wait_for(lambda: log.exists() and "connected" in log.read_text(), 30)
    publisher = Publisher(mosquitto.port, devices.device)
    try:
        publisher.send(0, 3000)
        assert wait_for(lambda: len(database.values()) > 300, 30), (tmp_path / "worker.log").read_text()
        process.send_signal(signal.SIGKILL)  # mid-stream: some batches written, some acked, some in flight
        process.wait(10)
        publisher.send(3000, 2000)  # the broker queues these for the dead worker's persistent session
        assert publisher.all_acknowledged()
        process = _worker_process(mosquitto, env, tmp_path / "worker.log")
        assert wait_for(lambda: len(database.values()) == 5000, 60, 0.2)
        time.sleep(1.0)  # nothing more arrives later either
        seqs = database.values()
        assert len(seqs) == 5000 and sorted(seqs) == [float(n) for n in range(5000)]
    finally:
        publisher.close()
        process.terminate()
        process.wait(10)


def test_no_loss_no_duplicate_across_a_broker_restart(devices, mosquitto, worker):
    publisher = Publisher(mosquitto.port, devices.device)
    try:
        publisher.send(0, 3000)
        assert wait_for(lambda: Telemetry.objects.filter(device=devices.device).count() > 300, 30)
        mosquitto.stop()  # SIGTERM while messages are in flight to the worker and from the device
        time.sleep(0.5)
        publisher.send(3000, 1000)  # queued in the device's client while the broker is down
        mosquitto.start()
        publisher.send(4000, 1000)
        assert publisher.all_acknowledged(90)
        stored = Telemetry.objects.filter(device=devices.device)
        if not wait_for(lambda: stored.count() == 5000, 60, 0.2):
            missing = sorted(set(range(5000)) - {int(n) for n in stored.values_list("num", flat=True)})
            pytest.fail(f"{len(missing)} messages missing, e.g. {missing[:5]}…{missing[-5:]}")
        time.sleep(1.0)
        seqs = list(Telemetry.objects.filter(device=devices.device).values_list("num", flat=True))
        assert len(seqs) == 5000 and sorted(seqs) == [float(n) for n in range(5000)]
    finally:
        publisher.close()


def _pid_of(*argument_words) -> int | None:
    """The process whose command line has these words in a row (a supervisor's child)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                words = open(f"/proc/{entry.name}/cmdline", "rb").read().decode().split("\0")
            except OSError:
                continue
            if any(words[i : i + len(argument_words)] == list(argument_words) for i in range(len(words))):
                return int(entry.name)
    return None


def test_no_loss_no_duplicate_when_one_of_two_partition_workers_is_killed(devices, mosquitto, tmp_path):
    """`linli ingest --broker URL --processes 2`: two workers, one per partition, under a supervisor that
    starts a killed one again; the killed worker's devices wait in its session and lose nothing."""
    assert [partition_of(d.access_token, 2) for d in (devices.other, devices.device)] == [0, 1]
    database = WorkerDatabase(tmp_path, devices.device, devices.other)
    log = tmp_path / "workers.log"
    supervisor = _worker_process(mosquitto, database.env, log, "--processes", "2")
    publishers = []
    try:
        assert wait_for(lambda: log.exists() and log.read_text().count(" connected (") == 2, 30)
        publishers = [Publisher(mosquitto.port, d) for d in (devices.device, devices.other)]
        for publisher in publishers:
            publisher.send(0, 3000)
        assert wait_for(lambda: len(database.values(devices.device)) > 300, 30), log.read_text()
        killed = _pid_of("--partition", "1/2")  # the worker of thermo-1's partition
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        for publisher in publishers:
            publisher.send(3000, 2000)
        assert all(publisher.all_acknowledged() for publisher in publishers)
        for device in (devices.device, devices.other):
            assert wait_for(lambda d=device: len(database.values(d)) == 5000, 60, 0.2), log.read_text()
        time.sleep(1.0)  # nothing more arrives later either
        for device in (devices.device, devices.other):
            assert sorted(database.values(device)) == [float(n) for n in range(5000)]
        assert "ingest worker process 1" in log.read_text()  # the supervisor started it again
        assert _pid_of("--partition", "1/2") not in (None, killed)
    finally:
        for publisher in publishers:
            publisher.close()
        supervisor.terminate()
        supervisor.wait(30)


def test_two_partitions_split_the_devices_and_each_keeps_its_downlink(devices, two_workers, connect):
    first, second = two_workers  # partition 0/2 has thermo-2, 1/2 has thermo-1
    clients = {device: connect(device) for device in (devices.device, devices.other)}
    for device, client in clients.items():
        client.subscribe(topic(device, "rpc/request/+"))
        for n in range(20):
            client.publish(topic(device, "telemetry"), {"ts": now_ms() - 60_000 + n, "values": {"seq": n}})
    for device in clients:
        assert wait_for(lambda d=device: len(stored(d)) == 20)
    # each message was evaluated by its device's worker only: the other one let it go at once
    assert first.skipped == 20 and second.skipped == 20
    commands = {device: services.send_rpc(device, "blink", {}) for device in clients}
    for device, client in clients.items():
        request = topic(device, f"rpc/request/{commands[device].rpc_id}")
        assert client.received(request) == {"method": "blink", "params": {}}
    time.sleep(1.5)  # both workers have polled the queue again: each request went out once
    for device, client in clients.items():
        assert len([t for t, _ in client.messages if "/rpc/request/" in t]) == 1
        assert Downlink.objects.get(pk=commands[device].pk).status == "delivered"


def test_a_worker_on_a_shared_subscription(devices, mosquitto, connect):
    """The option for a broker that dispatches a share by publisher (EMQX's hash_clientid)."""
    running = start_worker(mosquitto, shared=True)
    try:
        assert running.service.client_id == "linli-ingest-0"
        client = connect(devices.device)
        client.publish(topic(devices.device, "telemetry"), {"temperature": 21})
        assert wait_for(lambda: [(k, n) for k, _, n in stored(devices.device)] == [("temperature", 21.0)])
    finally:
        running.stop()
    with pytest.raises(ValueError, match="shared subscription"):
        start_worker(mosquitto, shared=True, partition=(0, 2))


def test_end_sessions_drops_what_an_old_set_of_partitions_had_queued(devices, mosquitto, connect):
    """After a move to another number of partitions, `linli ingest end-sessions` ends the old sessions."""
    for worker in [start_worker(mosquitto, partition=(i, 2)) for i in range(2)]:
        worker.stop()  # both sessions now exist, and queue what arrives while no worker is connected
    client = connect(devices.device)  # thermo-1: partition 1 of 2
    client.publish(topic(devices.device, "telemetry"), {"ts": now_ms() - 2000, "values": {"temperature": 20}})
    worker = start_worker(mosquitto, partition=(1, 2))
    assert wait_for(lambda: [n for _, _, n in stored(devices.device)] == [20.0])  # it was queued for it
    worker.stop()
    client.publish(topic(devices.device, "telemetry"), {"ts": now_ms() - 1000, "values": {"temperature": 21}})
    ended = subprocess.run(
        [
            sys.executable,
            "-m",
            "linli.cli",
            "ingest",
            "end-sessions",
            "--broker",
            mosquitto.url,
            "--processes",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ended.returncode == 0, ended.stderr
    assert "linli-ingest-0-of-2" in ended.stdout and "linli-ingest-1-of-2" in ended.stdout
    worker = start_worker(mosquitto, partition=(1, 2))
    try:
        time.sleep(1.5)
        assert [n for _, _, n in stored(devices.device)] == [20.0]  # the message queued for it went with it
        client.publish(topic(devices.device, "telemetry"), {"temperature": 22})  # a new session from now on
        assert wait_for(lambda: [n for _, _, n in stored(devices.device)] == [20.0, 22.0])
    finally:
        worker.stop()


def test_a_session_kept_from_shared_mode_does_not_deliver_everything_twice(devices, mosquitto, connect):
    """linli-ingest-0 was on the share before (as in earlier versions); now it has its own subscription."""
    start_worker(mosquitto, shared=True).stop()  # its persistent session keeps the $share subscription
    running = start_worker(mosquitto)
    try:
        client = connect(devices.device)
        for n in range(5):
            client.publish(
                topic(devices.device, "telemetry"), {"ts": now_ms() - 10_000 + n, "values": {"seq": n}}
            )
        assert wait_for(lambda: len(stored(devices.device)) == 5)
        time.sleep(0.5)
        assert running.front.messages == 5  # each message reached the worker once
    finally:
        running.stop()


def test_partition_option_is_checked():
    assert parse_partition("1/3") == (1, 3)
    for wrong in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(ValueError):
            parse_partition(wrong)
    # the same token always lands in the same partition, in every process (no per-process hash seed)
    assert partition_of("THERMO1-token-0000001", 2) == 1 and partition_of("anything", 1) == 0


def test_mosquitto_config_command_writes_every_device(devices, tmp_path, capsys):
    from linli.cli import main

    main(["ingest", "mosquitto-config", "--out", str(tmp_path / "m"), "--port", "18999"])
    users = [line.split(":", 1)[0] for line in (tmp_path / "m" / "passwd").read_text().splitlines()]
    assert set(users) == {
        "linli-ingest",
        devices.device.access_token,
        devices.other.access_token,
        devices.gateway.access_token,
    }
    conf = (tmp_path / "m" / "mosquitto.conf").read_text()
    assert "listener 18999 127.0.0.1" in conf and "allow_anonymous false" in conf
    assert "pattern readwrite v1/devices/%u/#" in (tmp_path / "m" / "acl").read_text()
    assert "linli ingest --broker 'mqtt://linli-ingest:" in capsys.readouterr().out
