"""Grid demo data: the district's departments, and in every grid a handful of events in every state.

Registered as a ``linli.core.demo`` extension (see ``GridConfig.ready``), so ``linli demo`` builds it inside
the demo's one transaction and ``--reset`` deletes it first (``delete_grid``).

Real histories
    Every event is made by the services the pages and the API call (``report``, ``take_step``, ``decide``), so
    its timeline, clocks, on-time flags, requests and notices are exactly what real use would leave. Only the
    time is simulated: while the demo builds, ``linli.core.clock.now`` (the one clock the services read) is
    set to each step's moment in the past (``_Clock``), and put back afterwards. The moments are chosen so
    that, at the time of the build, the open events show every light: the step that started the running
    clock is placed by working time (the working calendar's own arithmetic) so that the case is green, yellow
    or red now. Closed cases are spread over the last weeks, some on time and some late, some after rework.
    At the end, ``services.tick`` runs once with the real time, as the worker would, so overdue cases carry
    their warnings, overdue notices and escalations.

Departments
    环卫所, 市政所, 城管中队, 派出所联络 and 物业办 serve the whole district; their members are demo accounts
    (service providers, police liaisons, property managers), and the seeded categories they handle point to
    them (``Category.department``; deleting the departments on reset clears it again).

Sizes
    ``demo`` (150 grids): 2 events per grid, some 300 events and 1,400 steps, in 12–16 s: each step goes
    through the services (7–10 ms a step), which is what keeps the count down.
    ``district`` (3,000 grids): only the first 30 grids get events (4 each); the benchmark (bench/grid.py)
    has its own generator for a year of district history.
    ``Scale.extra["grid_events_per_grid"]`` and ``["grid_sample_grids"]`` override both.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from faker import Faker
from shapely.geometry import Point, shape

from linli.core import clock, workcalendar
from linli.core.demo import Scale
from linli.core.models import Region, Role, User
from linli.core.regions import Level

from . import services
from .locate import forget_index
from .models import (
    Category,
    Department,
    Event,
    Evidence,
    Notification,
    Request,
    Source,
    Stage,
    Transition,
    Urgency,
)

EVENTS_PER_GRID = {"demo": 2, "district": 4}
SAMPLE_GRIDS = {"district": 30}  # only this many grids get events at this scale

# code, name, categories it handles, which demo accounts are its members
DEPARTMENTS = [
    ("DEMO-HW", "环卫所", ["06010", "06042", "06099"], "service1"),
    ("DEMO-SZ", "市政所", ["06013", "01037", "01001", "IOT03"], "service2"),
    ("DEMO-CG", "城管中队", ["06001", "07001", "09006", "09009", "09011"], "service_last"),
    ("DEMO-PCS", "派出所联络", ["SG0401", "SG0402", "SG0403"], "police"),
    ("DEMO-WY", "物业办", ["SG0103", "SG0204", "IOT05"], "property"),
]

TITLES = {
    "SG0101": ["楼上漏水引发邻里矛盾", "邻居占用公共过道堆物"],
    "SG0102": ["家庭矛盾求助调解", "老人赡养问题求助"],
    "SG0103": ["业主反映物业不作为", "小区停车收费争议"],
    "SG0104": ["装修工人被拖欠工资", "临时工工资未结清"],
    "SG0201": ["楼道电动车违规充电", "消防通道被杂物堵塞"],
    "SG0202": ["餐馆燃气管道老化", "居民家中燃气味道重"],
    "SG0203": ["老旧楼房外墙开裂", "平房屋顶漏雨有坍塌风险"],
    "SG0204": ["高层窗台花盆有坠落风险", "外墙瓷砖松动"],
    "SG0301": ["独居老人多日未出门", "独居老人需要送医"],
    "SG0302": ["残疾人出行需帮助", "残疾人家庭生活困难"],
    "SG0303": ["困难家庭申请救助", "失业家庭生活困难"],
    "SG0304": ["未成年人长时间无人照看", "儿童在工地附近玩耍"],
    "SG0401": ["可疑人员多次出入小区", "可疑车辆长期停放"],
    "SG0402": ["夜间广场舞噪音扰民", "装修噪音超时"],
    "SG0403": ["疑似群租房人员混杂", "一套房住十余人"],
    "06001": ["楼顶私搭彩钢房", "院内私建棚屋"],
    "06010": ["小区东门垃圾堆积", "路边垃圾无人清运"],
    "06013": ["人行道路面塌陷", "道路坑洼积水"],
    "06042": ["垃圾箱满溢", "垃圾站周边脏乱"],
    "06099": ["路面油污未清理", "落叶堆积道路不洁"],
    "07001": ["电线杆乱贴小广告", "单元门口小广告"],
    "09006": ["早市占道经营", "商户店外经营"],
    "09009": ["机动车占用盲道", "车辆堵塞消防通道"],
    "09011": ["共享单车堆放路口", "共享单车倒伏一片"],
    "01037": ["路灯不亮", "路灯杆倾斜"],
    "01001": ["井盖缺失", "井盖破损松动"],
    "IOT01": ["烟感告警", "烟感告警（厨房）"],
    "IOT02": ["可燃气体告警", "燃气浓度超限告警"],
    "IOT03": ["地下室水浸告警", "配电房水浸告警"],
    "IOT04": ["独居老人家中24小时无用水", "独居老人用水异常"],
    "IOT05": ["电梯困人告警", "电梯故障停梯"],
}

NOTES = {
    "verify": ["已到现场核实，情况属实", "现场确认，需立案处理"],
    "register": ["符合立案条件", "立案"],
    "dispatch": ["请尽快处置", "派至责任单位"],
    "accept": ["已签收", "收到，马上安排"],
    "report_done": ["已处理完毕，附处置后照片", "已清理，恢复正常"],
    "inspect_ok": ["现场核查通过", "核查属实，已处理好"],
    "inspect_fail": ["现场仍有问题，需返工", "处理不彻底，请返工"],
    "self_handle": ["现场已处理", "已当场劝导整改"],
    "cancel": ["现场核实不属实", "不属于本平台受理范围"],
    "evaluate": ["处理及时，满意", "速度还可以", "太慢了"],
    "request_suspension": ["需等待管线改造工程，申请挂账", "涉及产权争议，需等待法院判决"],
    "request_extension": ["配件需订购，申请延期", "天气原因无法施工，申请延期"],
    "request_return": ["不属于本单位职责，申请回退", "派遣单位有误"],
    "reopen": ["回访不满意，问题复发", "群众反映问题未彻底解决"],
}

# Where each story ends. Every grid gets a handful of these in turn, so that across the district every state
# (and, for running clocks, every light) appears many times.
SCENARIOS = [
    "verifying",
    "in_progress",
    "closed",
    "reported",
    "handled",
    "evaluated",
    "dispatched",
    "suspended",
    "self_handled",
    "closed_rework",
    "registered",
    "cancelled",
    "extension_pending",
    "closed_self",
    "in_progress_rework",
    "evaluated_reopened",
    "merged",
    "returned",
]
LIGHTS = ["green", "green", "yellow", "red", "red"]


def _png(width: int = 96, height: int = 72, seed: int = 0) -> bytes:
    """A small real PNG (a coloured gradient), made here so the demo ships no binary files."""
    import struct
    import zlib

    r0, g0, b0 = (seed * 53) % 200, (seed * 97) % 200, (seed * 31) % 200
    rows = b"".join(
        b"\x00" + b"".join(bytes(((r0 + x) % 256, (g0 + y) % 256, (b0 + x + y) % 256)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class _Clock:
    """The time the services see while the demo builds: ``linli.core.clock.now`` points here, then back."""

    def __init__(self):
        self.at: datetime | None = None
        self._real: Callable[[], datetime] | None = None

    def __enter__(self):
        self._real = clock.now
        clock.now = lambda: self.at or self._real()  # type: ignore[assignment]
        return self

    def __exit__(self, *exc):
        clock.now = self._real  # type: ignore[assignment]


@dataclass
class Crew:
    """The people around one grid."""

    grid: Region
    worker: User
    community: User
    street: User
    residents: list[User]
    members: dict[int, User]  # department id → the member who accepts its cases here


@dataclass
class Planned:
    """One step of a scenario: the action, who takes it, how long after the previous step, and its fields."""

    action: str
    actor: User | None
    gap: tuple[float, bool]  # seconds, and whether they are working seconds
    extra: dict = field(default_factory=dict)


@dataclass
class Built:
    events: int = 0
    steps: int = 0
    states: dict[str, int] = field(default_factory=dict)


class Builder:
    def __init__(self, district: Region, scale: Scale, rng: random.Random):
        self.district = district
        self.scale = scale
        self.rng = rng
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(rng.random())
        self.now = clock.now()
        self.clock = _Clock()
        self.photos = [_png(seed=k) for k in range(6)]
        self.built = Built()
        self.sequence = 0

    # --- set-up ---

    def departments(self) -> dict[str, Department]:
        accounts = {u.username: u for u in User.objects.filter(is_demo=True, is_active=True)}
        streets = sorted(
            Region.objects.filter(parent=self.district, level=Level.STREET).values_list("code", flat=True)
        )
        communities = {
            s: sorted(Region.objects.filter(parent_id=s).values_list("code", flat=True)) for s in streets
        }
        made = {}
        for code, name, categories, members in DEPARTMENTS:
            department = Department.objects.create(code=code, name=name, region=self.district)
            people = []
            for s, street in enumerate(streets, start=1):
                count = len(communities[street])
                names = {
                    "service1": [f"service{s}-1"],
                    "service2": [f"service{s}-{min(2, count)}"],
                    "service_last": [f"service{s}-{count}"],
                    "police": [f"police{s}"],
                    "property": [f"property{s}-{c}" for c in range(1, count + 1)],
                }[members]
                people += [accounts[n] for n in names if n in accounts]
            department.members.add(*people)
            Category.objects.filter(code__in=categories).update(department=department)
            made[code] = department
        return made

    def people(self, departments: dict[str, Department]) -> None:
        """Everyone the stories need, loaded once: services read ``scope_codes`` (cached per instance)."""
        staff = User.objects.filter(is_demo=True, is_active=True).prefetch_related("scopes").order_by("pk")
        self.by_scope: dict[tuple[str, str], User] = {}
        self.residents = []
        for user in staff:
            user._scope_codes = sorted((s.region_id for s in user.scopes.all()), key=lambda c: (len(c), c))
            if user.role == Role.RESIDENT:
                self.residents.append(user)
            for code in user.scope_codes:
                self.by_scope.setdefault((user.role, code), user)
        users = {u.pk: u for u in self.by_scope.values()}
        self.members = {
            d.pk: [users.get(pk) or User.objects.get(pk=pk) for pk in d.members.values_list("pk", flat=True)]
            for d in departments.values()
        }
        for people in self.members.values():
            for user in people:
                if not hasattr(user, "_scope_codes"):
                    user.scope_codes  # noqa: B018  (load once)

    def crew(self, grid: Region) -> Crew | None:
        worker = self.by_scope.get((Role.GRID_WORKER, grid.code))
        community = self.by_scope.get((Role.COMMUNITY_WORKER, grid.code[:12]))
        street = self.by_scope.get((Role.STREET_OFFICER, grid.code[:9]))
        if worker is None or community is None or street is None:
            return None
        members = {}
        for department_id, people in self.members.items():
            near = [u for u in people if any(grid.code.startswith(c) for c in u.scope_codes)]
            if near or people:
                members[department_id] = (near or people)[0]
        return Crew(grid, worker, community, street, self.residents, members)

    # --- time ---

    def limit_seconds(self, category: Category, stage: str, urgency: str) -> tuple[int, bool]:
        """A stage's limit in seconds, and whether they are working seconds."""
        amount, unit = services.time_limit(category, stage, urgency)
        if unit == workcalendar.TimeUnit.WORKING_HOUR:
            return int(amount * 3600), True
        if unit == workcalendar.TimeUnit.WORKING_DAY:
            return int(amount * workcalendar.working_day_seconds()), True
        per = 3600 if unit == workcalendar.TimeUnit.NATURAL_HOUR else 86_400
        return int(amount * per), False

    def started_ago(self, seconds: int, working: bool) -> datetime:
        """The moment from which ``seconds`` (working or natural) have passed until now."""
        return self.back(self.now, seconds, working)

    def anchor(self, category: Category, stage: str, urgency: str, light: str) -> datetime:
        """When a clock must have started for the case to show ``light`` now."""
        limit, working = self.limit_seconds(category, stage, urgency)
        fraction = {"green": self.rng.uniform(0.1, 0.6), "yellow": self.rng.uniform(0.84, 0.97)}.get(
            light, self.rng.uniform(1.3, 4.0)
        )
        return self.started_ago(max(60, int(limit * fraction)), working)

    def after(self, moment: datetime, seconds: int) -> datetime:
        """A later moment in working time (a step taken during office hours)."""
        return workcalendar.add_working_seconds(moment, max(60, int(seconds)))

    # --- steps ---

    def at(self, moment: datetime) -> None:
        self.clock.at = min(moment, self.now - timedelta(seconds=1))

    def report(
        self,
        crew: Crew,
        moment: datetime,
        kind: str,
        category: Category,
        urgency: str,
        near: Event | None = None,
    ) -> Event:
        self.at(moment)
        self.sequence += 1
        polygon = shape(crew.grid.boundary)
        west, south, east, north = polygon.bounds
        for _ in range(50):
            lon, lat = self.rng.uniform(west, east), self.rng.uniform(south, north)
            if polygon.contains(Point(lon, lat)):
                break
        else:
            lon, lat = crew.grid.centre_lon, crew.grid.centre_lat
        if near is not None:  # the same spot, a few metres off: the intake suggests merging
            lon, lat = near.lon + 0.00003, near.lat
        title = self.rng.choice(TITLES.get(category.code, [category.name]))
        values = dict(
            category=category,
            title=title,
            lon=round(lon, 6),
            lat=round(lat, 6),
            address=f"{crew.grid.name}{self.rng.randint(1, 30)}号附近",
            urgency=urgency,
        )
        if kind == "resident":
            values |= dict(
                source=Source.RESIDENT,
                reporter=self.rng.choice(crew.residents) if crew.residents else None,
                description=f"{title}，希望尽快处理。",
                photos=[self.photo(category.code)],
            )
        elif kind == "hotline":
            values |= dict(
                source=Source.HOTLINE,
                upstream_system="12345",
                upstream_id=f"DEMO-12345-{self.sequence:06d}",
                reporter_name=self.fake.name(),
                reporter_phone=f"1{self.rng.choice('3589')}{self.rng.randint(0, 999_999_999):09d}",
                description=f"市民来电反映：{title}。",
            )
        elif kind == "iot":
            values |= dict(
                source=Source.IOT,
                upstream_system="iot",
                upstream_id=f"demo-alarm-{self.sequence:06d}",
                description=f"设备告警：{title}",
            )
        else:
            values |= dict(
                source=Source.GRID_WORKER,
                reporter=crew.worker,
                description=f"巡查发现：{title}",
                photos=[self.photo(category.code)],
            )
        event = services.report(**values).event
        self.built.steps += 1
        return event

    def photo(self, name: str) -> ContentFile:
        return ContentFile(self.rng.choice(self.photos), name=f"{name}.png")

    def step(self, event: Event, moment: datetime, action: str, user: User, **extra) -> None:
        self.at(moment)
        if action in ("report_done",):
            extra["photos"] = {"after": [self.photo("after")]}
        if action == "self_handle":
            extra["photos"] = {"before": [self.photo("before")], "after": [self.photo("after")]}
        note = extra.pop("note", None)
        if note is None and action in NOTES:
            note = self.rng.choice(NOTES[action])
        services.take_step(event, action, user, note=note or "", **extra)
        self.built.steps += 1

    def decide(self, event: Event, moment: datetime, user: User, approve: bool = True) -> None:
        self.at(moment)
        waiting = Request.objects.filter(event=event, decision=Request.Decision.PENDING).first()
        services.decide(waiting, user, approve=approve, note="" if approve else "请按期完成")
        self.built.steps += 1

    # --- one event ---

    def plan(self, crew: Crew, scenario: str) -> tuple[list[Planned], int | None, str | None]:
        """The steps of one scenario, each with its gap after the previous one; which step started the clock
        that runs now (its index) and that clock's stage. No index: the story is over (closed, cancelled)."""
        rng = self.rng
        kind = rng.choice(["resident", "resident", "patrol", "patrol", "hotline", "iot"])
        if kind == "resident" and not crew.residents:
            kind = "hotline"
        if scenario in ("self_handled", "closed_self"):
            kind = "patrol"
        if scenario in ("verifying", "cancelled") and kind == "patrol":
            kind = "hotline"
        category = self.category(kind)
        urgency = Urgency.URGENT if rng.random() < 0.12 else Urgency.NORMAL
        worker, community, street = crew.worker, crew.community, crew.street
        member = crew.members.get(category.department_id) if category.department_id else None
        handler = member or worker  # dispatched without a department, a case goes to the grid's worker
        inspector = worker if handler != worker else community
        limit, working = self.limit_seconds(category, Stage.HANDLE, urgency)

        def minutes(low, high):
            return rng.uniform(low * 60, high * 60), True

        steps = [Planned("report", None, (0, True), {"kind": kind, "category": category, "urgency": urgency})]
        if scenario in ("self_handled", "closed_self"):
            steps.append(Planned("self_handle", worker, minutes(10, 40)))
            if scenario == "self_handled":
                return steps, 1, Stage.INSPECT
            steps.append(Planned("approve_self", community, minutes(30, 240)))
            return steps, None, None
        if kind != "patrol":
            if scenario == "verifying":
                return steps, 0, Stage.VERIFY
            if scenario == "cancelled":
                steps.append(Planned("cancel", worker, minutes(30, 120)))
                return steps, None, None
            steps.append(Planned("verify", worker, minutes(10, 90)))
        if scenario == "reported":
            return steps, len(steps) - 1, Stage.REGISTER
        steps.append(Planned("register", community, minutes(5, 50)))
        if scenario == "registered":
            return steps, len(steps) - 1, Stage.DISPATCH
        steps.append(Planned("dispatch", community, minutes(5, 50)))
        dispatched = len(steps) - 1
        if scenario == "dispatched":
            return steps, dispatched, Stage.ACCEPT
        if scenario == "returned":
            steps.append(Planned("request_return", handler, minutes(30, 60)))
            steps.append(Planned("decide", street, minutes(30, 60), {"approve": True}))
            return steps, len(steps) - 1, Stage.DISPATCH
        steps.append(Planned("accept", handler, minutes(5, 40)))
        if scenario == "in_progress":
            return steps, dispatched, Stage.HANDLE
        if scenario == "extension_pending":
            steps.append(Planned("request_extension", handler, minutes(30, 120), {"extra_hours": Decimal(8)}))
            return steps, dispatched, Stage.HANDLE
        if scenario == "suspended":
            steps.append(Planned("request_suspension", handler, minutes(30, 120)))
            steps.append(Planned("decide", community, minutes(30, 120), {"approve": True}))
            return steps, dispatched, Stage.HANDLE
        on_time = rng.random() < 0.75
        rounds = 2 if scenario in ("closed_rework", "in_progress_rework") else 1
        for round_ in range(rounds):
            share = rng.uniform(0.2, 0.8) / rounds if on_time else rng.uniform(1.2, 2.0)
            steps.append(Planned("report_done", handler, (limit * share, working)))
            if scenario == "handled":
                return steps, len(steps) - 1, Stage.INSPECT
            if round_ < rounds - 1:
                steps.append(Planned("inspect_fail", inspector, minutes(30, 240)))
                if scenario == "in_progress_rework":
                    return steps, len(steps) - 1, Stage.HANDLE
        steps.append(Planned("inspect_ok", inspector, minutes(30, 240)))
        if scenario in ("evaluated", "evaluated_reopened"):
            rating = rng.choice([5, 5, 5, 4, 4, 3]) if scenario == "evaluated" else rng.choice([1, 2])
            note = NOTES["evaluate"][0 if rating >= 4 else 1 if rating == 3 else 2]
            steps.append(Planned("evaluate", None, minutes(60, 450), {"rating": rating, "note": note}))
            if scenario == "evaluated_reopened":
                steps.append(Planned("reopen", community, minutes(30, 120)))
                return steps, len(steps) - 1, Stage.ACCEPT
        return steps, None, None

    def times(self, steps: list[Planned], running: int | None, stage: str | None) -> list[datetime]:
        """When each step happens: the clock-starting step placed to show the wanted light now, the steps
        before it back in working time, those after it a little later; a finished story ends in the last
        four weeks."""
        count = len(steps)
        moments: list[datetime | None] = [None] * count
        if running is None:
            anchor = count - 1
            moments[anchor] = self.started_ago(int(self.rng.uniform(1, 20) * 27_000), True)
        else:
            anchor = running
            first = steps[0].extra
            moments[anchor] = self.anchor(first["category"], stage, first["urgency"], self.rng.choice(LIGHTS))
        for i in range(anchor - 1, -1, -1):
            seconds, working = steps[i + 1].gap
            moments[i] = self.back(moments[i + 1], seconds, working)
        for i in range(anchor + 1, count):
            moments[i] = self.soon(moments[i - 1])
        return moments  # type: ignore[return-value]

    def event(self, crew: Crew, scenario: str) -> None:
        if scenario == "merged":
            self.merged(crew)
            return
        steps, running, stage = self.plan(crew, scenario)
        event = None
        for planned, moment in zip(steps, self.times(steps, running, stage), strict=True):
            extra = dict(planned.extra)
            if planned.action == "report":
                event = self.report(crew, moment, extra["kind"], extra["category"], extra["urgency"])
            elif planned.action == "decide":
                self.decide(event, moment, planned.actor, approve=extra["approve"])
            else:
                actor = planned.actor
                if actor is None:  # the rating: the resident who reported it, else the community
                    actor = (
                        event.reporter if event.reporter and event.reporter.is_resident else crew.community
                    )
                self.step(event, moment, planned.action, actor, **extra)
        self.count(event)

    def merged(self, crew: Crew) -> None:
        """Two residents report the same thing; the community merges the second into the first."""
        category = self.category("resident")
        start = self.started_ago(int(self.rng.uniform(1, 15) * 27_000), True)
        first = self.report(crew, start, "hotline", category, Urgency.NORMAL)
        second = self.report(crew, self.after(start, 1200), "resident", category, Urgency.NORMAL, near=first)
        self.step(second, self.after(start, 2400), "merge", crew.community, into=first, note="")
        self.count(first)
        self.count(second)

    def count(self, event: Event) -> None:
        event.refresh_from_db(fields=["state"])
        self.built.events += 1
        self.built.states[event.state] = self.built.states.get(event.state, 0) + 1

    def back(self, moment: datetime, seconds: float, working: bool = True) -> datetime:
        """``seconds`` (of working time, or natural) before ``moment``."""
        seconds = int(seconds)
        if seconds <= 0:
            return moment
        if not working:
            return moment - timedelta(seconds=seconds)
        low = moment - timedelta(seconds=seconds)
        while workcalendar.working_seconds_between(low, moment) < seconds:
            low -= timedelta(hours=16)
        high = moment
        for _ in range(24):
            middle = low + (high - low) / 2
            if workcalendar.working_seconds_between(middle, moment) >= seconds:
                low = middle
            else:
                high = middle
        return low.replace(microsecond=0)

    def soon(self, moment: datetime) -> datetime:
        """A little later, but before now: the steps after the one that started the running clock."""
        room = (self.now - moment).total_seconds()
        return moment + timedelta(seconds=max(1, min(self.rng.uniform(300, 2400), room / 4)))

    def category(self, kind: str) -> Category:
        if kind == "iot":
            pool = self.iot
        elif kind == "resident":
            pool = self.public
        else:
            pool = self.minors
        return self.rng.choice(pool)

    # --- everything ---

    def build(self) -> Built:
        forget_index()  # the grids were just written in bulk, without the signal that refreshes the index
        departments = self.departments()
        minors = list(
            Category.objects.filter(parent__isnull=False, active=True)
            .select_related("parent", "department")
            .prefetch_related("time_limits", "parent__time_limits")
        )
        self.minors = [c for c in minors if not c.code.startswith("IOT")]
        self.iot = [c for c in minors if c.code.startswith("IOT")] or self.minors
        self.public = [c for c in self.minors if c.public] or self.minors
        grids = list(
            Region.objects.filter(code__startswith=self.district.code, level=Level.GRID).order_by("code")
        )
        sample = self.scale.extra.get("grid_sample_grids", SAMPLE_GRIDS.get(self.scale.name))
        if sample:
            grids = grids[:sample]
        per_grid = self.scale.extra.get("grid_events_per_grid", EVENTS_PER_GRID.get(self.scale.name, 2))
        self.people(departments)
        turn = 0
        with self.clock:
            for grid in grids:
                crew = self.crew(grid)
                if crew is None:
                    continue
                for _ in range(per_grid):
                    self.event(crew, SCENARIOS[turn % len(SCENARIOS)])
                    turn += 1
        # Photos were stamped with the real time on upload; they belong to their step's moment.
        for evidence in Evidence.objects.filter(
            event__region_code__startswith=self.district.code
        ).select_related("transition"):
            if evidence.transition_id:
                Evidence.objects.filter(pk=evidence.pk).update(uploaded_at=evidence.transition.at)
        services.tick(self.now)
        return self.built


def demo_extension(district: Region, scale: Scale, rng: random.Random) -> str:
    """``linli demo`` hook: the demo district's departments and events, and a line saying what there is."""
    started = time.monotonic()
    built = Builder(district, scale, rng).build()
    events = Event.objects.filter(region_code__startswith=district.code)
    overdue = sum(1 for e in events.filter(due_at__lt=clock.now()))
    seconds = time.monotonic() - started
    return (
        f"网格 Grid: {built.events:,} 事件 events ({overdue:,} 超时 overdue), {built.steps:,} 步骤 steps, "
        f"{len(DEPARTMENTS)} 部门 departments ({seconds:.1f} s)."
    )


def delete_grid(district_code: str) -> None:
    """``--reset`` hook: delete the district's events (with their steps, photos, requests, notices) and
    departments, in plain SQL (the benchmark may have put a million events here), and the photo files."""
    like = f"{district_code}%"
    folders = set()
    for name in Evidence.objects.filter(event__region_code__startswith=district_code).values_list(
        "file", flat=True
    ):
        if name:
            default_storage.delete(name)
            folders.add(os.path.dirname(name))
    for folder in folders:  # grid/<event id>/, empty now
        try:
            os.rmdir(default_storage.path(folder))
        except (NotImplementedError, OSError):
            pass  # not a local disk, or something else lives there
    quote = connection.ops.quote_name

    def table(model):
        return quote(model._meta.db_table)

    events = f"SELECT id FROM {table(Event)} WHERE region_code LIKE %s"
    departments = f"SELECT id FROM {table(Department)} WHERE region_code LIKE %s"
    members = quote(Department.members.through._meta.db_table)
    statements = [
        f"DELETE FROM {table(Notification)} WHERE event_id IN ({events})",
        f"DELETE FROM {table(Evidence)} WHERE event_id IN ({events})",
        f"DELETE FROM {table(Request)} WHERE event_id IN ({events})",
        f"DELETE FROM {table(Transition)} WHERE event_id IN ({events})",
        f"UPDATE {table(Event)} SET duplicate_of_id = NULL WHERE duplicate_of_id IN ({events})",
        f"DELETE FROM {table(Event)} WHERE region_code LIKE %s",
        f"UPDATE {table(Category)} SET department_id = NULL WHERE department_id IN ({departments})",
        f"UPDATE {table(Event)} SET department_id = NULL WHERE department_id IN ({departments})",
        f"DELETE FROM {members} WHERE department_id IN ({departments})",
        f"DELETE FROM {table(Department)} WHERE region_code LIKE %s",
    ]
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql, [like])
