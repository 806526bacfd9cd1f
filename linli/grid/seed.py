"""The categories a fresh install starts with; administrators edit them afterwards.

Social-governance classes use our own codes (scheme ``LINLI-SG``). Urban-management events keep the class
codes of the (provisional) GB/T 47678.5-2026 directory, anchors_grid.md §1.3.4 (b), so that cases pushed to
the city platform carry codes it knows. Handling limits follow the published city tables quoted in §1.4 where
there is one (暴露垃圾 1 working day, 道路不洁 5 working hours, 私搭乱建 15 working days), else the 12345
rule of 3 working days.

Each row: code, Chinese name, English name, filing condition, closing condition, handling limit (amount,
unit), urgent handling limit or None.
"""

WH, WD, NH = "working_hour", "working_day", "natural_hour"

SOCIAL, EVENT, COMPONENT = "social", "event", "component"

CATEGORIES = [
    # (major code, name, English, kind, scheme, [minors])
    (
        "SG01",
        "矛盾纠纷",
        "Disputes",
        SOCIAL,
        "LINLI-SG",
        [
            (
                "SG0101",
                "邻里纠纷",
                "Neighbour dispute",
                "双方或一方请求调解",
                "调解达成或转交司法途径",
                (3, WD),
                (1, WD),
            ),
            (
                "SG0102",
                "家庭纠纷",
                "Family dispute",
                "当事人求助或有激化风险",
                "调解完成并回访",
                (3, WD),
                (4, WH),
            ),
            (
                "SG0103",
                "物业纠纷",
                "Property-management dispute",
                "业主与物业争议经核实",
                "达成处理意见",
                (5, WD),
                None,
            ),
            (
                "SG0104",
                "劳资纠纷",
                "Wage dispute",
                "劳动者求助经核实",
                "转交人社部门或达成协议",
                (5, WD),
                (1, WD),
            ),
        ],
    ),
    (
        "SG02",
        "安全隐患",
        "Safety hazards",
        SOCIAL,
        "LINLI-SG",
        [
            (
                "SG0201",
                "消防隐患",
                "Fire hazard",
                "堵塞通道、违规充电等经核实",
                "隐患消除并拍照",
                (1, WD),
                (2, NH),
            ),
            (
                "SG0202",
                "燃气隐患",
                "Gas hazard",
                "燃气泄漏或违规使用",
                "隐患消除或燃气公司处置",
                (4, WH),
                (1, NH),
            ),
            (
                "SG0203",
                "房屋安全隐患",
                "Unsafe building",
                "裂缝、倾斜等经核实",
                "鉴定并采取措施",
                (5, WD),
                (4, WH),
            ),
            (
                "SG0204",
                "高空坠物隐患",
                "Risk of falling objects",
                "有坠落风险物品",
                "物品清除或加固",
                (1, WD),
                (2, NH),
            ),
        ],
    ),
    (
        "SG03",
        "特殊人群关爱",
        "Vulnerable people in need",
        SOCIAL,
        "LINLI-SG",
        [
            (
                "SG0301",
                "独居老人需帮助",
                "Elderly person living alone needs help",
                "老人或家属求助、巡查发现",
                "上门帮扶并回访",
                (4, WH),
                (1, NH),
            ),
            (
                "SG0302",
                "残疾人需帮助",
                "Person with disability needs help",
                "求助经核实",
                "帮扶落实",
                (1, WD),
                (2, NH),
            ),
            (
                "SG0303",
                "困难群众求助",
                "Household in hardship",
                "求助经核实",
                "救助政策落实或转办",
                (3, WD),
                None,
            ),
            (
                "SG0304",
                "未成年人保护",
                "Child protection",
                "发现未成年人权益受损风险",
                "转交相关部门并跟踪",
                (1, WD),
                (1, NH),
            ),
        ],
    ),
    (
        "SG04",
        "社会治安",
        "Public security",
        SOCIAL,
        "LINLI-SG",
        [
            (
                "SG0401",
                "可疑人员或车辆",
                "Suspicious person or vehicle",
                "巡查或群众反映",
                "民警核查完毕",
                (4, WH),
                (1, NH),
            ),
            ("SG0402", "噪音扰民", "Noise nuisance", "持续噪音影响居民", "噪音停止", (1, WD), None),
            ("SG0403", "群租隐患", "Overcrowded rental", "一房多租、隔断经核实", "整改完成", (5, WD), None),
        ],
    ),
    (
        "06",
        "市容环境类",
        "City appearance and environment",
        EVENT,
        "GB/T47678.5-2026",
        [
            ("06001", "私搭乱建", "Illegal structure", "未经批准搭建", "拆除", (15, WD), None),
            ("06010", "暴露垃圾", "Exposed rubbish", "成堆、成片的垃圾", "清除", (1, WD), (4, WH)),
            ("06013", "道路破损", "Damaged road", "路面破损影响通行", "修复", (5, WD), (1, WD)),
            ("06042", "垃圾站（箱）满溢", "Overflowing bins", "垃圾溢出箱体", "清运", (4, WH), None),
            ("06099", "道路不洁", "Dirty road", "路面有明显污物", "清扫干净", (5, WH), None),
        ],
    ),
    (
        "07",
        "宣传广告类",
        "Advertising",
        EVENT,
        "GB/T47678.5-2026",
        [("07001", "非法小广告", "Illegal small adverts", "张贴、涂写、刻画", "清除", (1, WD), None)],
    ),
    (
        "09",
        "街面秩序类",
        "Street order",
        EVENT,
        "GB/T47678.5-2026",
        [
            (
                "09006",
                "占道经营",
                "Street trading on the pavement",
                "占用道路经营",
                "劝离或清理",
                (4, WH),
                None,
            ),
            ("09009", "机动车乱停放", "Car parked illegally", "影响通行的停放", "驶离或处罚", (2, WH), None),
            (
                "09011",
                "共享单车乱象",
                "Shared bikes out of place",
                "乱停乱放影响通行",
                "清理归位",
                (1, WD),
                None,
            ),
        ],
    ),
    (
        "01",
        "市政公用设施",
        "Public utilities (components)",
        COMPONENT,
        "GB/T47678.5-2026",
        [
            ("01037", "路灯异常", "Street light fault", "路灯不亮或损坏", "恢复照明", (2, WD), (4, WH)),
            (
                "01001",
                "供水井盖异常",
                "Manhole cover missing or broken",
                "井盖缺失、破损",
                "补齐或更换",
                (1, WD),
                (2, NH),
            ),
        ],
    ),
    (
        "IOT",
        "物联感知告警",
        "IoT alarms",
        SOCIAL,
        "LINLI-SG",
        [
            ("IOT01", "烟感告警", "Smoke alarm", "设备告警经核实", "现场处置完毕", (1, NH), (0.5, NH)),
            (
                "IOT02",
                "可燃气体告警",
                "Combustible gas alarm",
                "设备告警经核实",
                "燃气关闭、隐患消除",
                (1, NH),
                None,
            ),
            ("IOT03", "水浸告警", "Water leak alarm", "设备告警经核实", "漏水止住", (4, WH), None),
            (
                "IOT04",
                "独居老人用水异常",
                "No water use by an elderly person living alone",
                "长时间无用水",
                "上门确认安全",
                (2, NH),
                None,
            ),
            ("IOT05", "电梯困人", "Person trapped in a lift", "电梯告警", "人员解救", (0.5, NH), None),
        ],
    ),
]


def reseed_after_flush(sender, app_config=None, using=None, apps=None, plan=None, **kwargs) -> None:
    """A flush (transactional tests) empties the tables that the data migration filled; put them back.
    After a real migrate the migration has already run and this finds every category in place."""
    if app_config is None or app_config.label != "grid":
        return
    from importlib import import_module

    from django.apps import apps as global_apps

    registry = apps or global_apps
    try:
        category = registry.get_model("grid", "Category")
    except LookupError:
        return
    if not category.objects.using(using).exists():
        import_module("linli.grid.migrations.0002_seed_categories").seed_categories(registry)
