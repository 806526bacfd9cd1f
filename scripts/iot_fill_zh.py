# Fills the Chinese translations of the IoT hub: python scripts/iot_fill_zh.py linli/iot/locale/zh_Hans/LC_MESSAGES/django.po
import polib
ZH = {
'IoT hub: devices, telemetry, alarms and commands': '物联网平台：设备、遥测、告警与指令',
'Search': '搜索','Profile': '设备配置','State': '状态','All': '全部','With an active alarm': '有未清除告警','Never reported': '从未上报',
'Value': '值','A number (60), true/false, or text. Thresholds and rates compare with it.': '数字（如 60）、true/false 或文字；阈值和变化率与之比较。',
'Name the key this rule watches.': '请填写规则监视的数据键。','Give the value to compare with.': '请填写比较值。',
'A rate is compared with a number (change per minute).': '变化率须与数字比较（每分钟变化量）。','Choose a comparison.': '请选择比较方式。',
'Give the period in seconds (e.g. 43200 for 12 hours).': '请填写时长（秒），如 12 小时为 43200。','Name the cumulative reading (e.g. water).': '请填写累计读数的键（如 water）。',
'Telemetry keys': '遥测数据键','One per line: key, label, unit — e.g. temperature, 温度, °C': '每行一个：键, 名称, 单位，如 temperature, 温度, °C',
'A key has at most 64 characters.': '数据键最多 64 个字符。','On': '开灯','Off': '关灯','Dim to level': '调光','Command': '指令','Level (%)': '亮度（%）',
'Give the level from 0 to 100.': '请填写 0–100 的亮度。','Method': '方法','Parameters (JSON)': '参数（JSON）','One-way (no answer expected)': '单向（不等待应答）',
'Not valid JSON.': '不是有效的 JSON。','Schedule': '时间表','One line per change: time and level, e.g. 18:30 100 / 23:00 50 / 06:00 0': '每行一次变化：时间和亮度，如 18:30 100 / 23:00 50 / 06:00 0',
'Enabled': '启用','Write each line as a time and a level, e.g. 18:30 100.': '每行写时间和亮度，如 18:30 100。','Excel (.xlsx) or CSV file': 'Excel（.xlsx）或 CSV 文件',
'Status': '状态','Active': '未清除','Active, not acknowledged': '未清除且未确认','Cleared': '已清除','Severity': '级别',
'Temperature and humidity sensor': '温湿度传感器','Smoke detector': '烟感','Water leak sensor': '水浸传感器','Combustible gas detector': '可燃气体探测器',
'Water meter': '水表','Electricity meter': '电表','Gas meter': '燃气表','Heat meter': '热量表','Elevator monitor': '电梯监测','EV charging pile': '充电桩',
'Street light': '路灯','Door or gate controller': '门禁/道闸控制器','SOS button': '一键报警','Camera': '摄像头','Environment station': '环境监测站','Gateway': '网关','Other': '其他',
'name': '名称','kind': '类型','description': '说明','telemetry keys': '遥测数据键','reporting period (s)': '上报周期（秒）','offline after (s) without activity': '无活动多少秒后离线',
'provision key': '注册密钥','provision secret': '注册口令','region of self-provisioned devices': '自注册设备所属区域','rated power (W)': '额定功率（W）',
'device profile': '设备配置','device profiles': '设备配置','label': '显示名称','profile': '设备配置','access token': '访问令牌','building': '楼栋','house': '房屋','facility': '部件',
'gateway': '网关','parent gateway': '上级网关','longitude': '经度','latitude': '纬度','created': '创建时间','last activity': '最后活动','session connected': '会话已连接',
'device': '设备','devices': '设备','key': '键','time (epoch ms)': '时间（毫秒时间戳）','data point': '数据点','data points': '数据点','value changed (epoch ms)': '值变化时间（毫秒时间戳）',
'latest value': '最新值','latest values': '最新值','Client (reported by the device)': '客户端（设备上报）','Shared (set by the server, pushed to the device)': '共享（平台设置，下发设备）',
'Server (never sent to the device)': '服务端（不下发设备）','scope': '范围','value': '值','updated': '更新时间','attribute': '属性','attributes': '属性',
'Critical': '紧急','Major': '重要','Minor': '次要','Warning': '警告','Indeterminate': '不确定',
'Threshold (with optional duration)': '阈值（可设持续时间）','Rate of change per minute': '每分钟变化率','No data for a period': '一段时间无数据',
'No change (cumulative reading did not increase) for a period': '一段时间无变化（累计读数未增加）','Offline': '离线',
'alarm type': '告警类型','comparison': '比较','for at least (s)': '持续至少（秒）','period (s)': '时长（秒）','clear only past (hysteresis)': '回到此值以下/以上才清除（回差）',
'clear only after normal for (s)': '恢复正常持续多少秒后清除','severity': '级别','open a grid event of category': '生成网格事件（类别）','enabled': '启用',
'alarm rule': '告警规则','alarm rules': '告警规则','region code': '区域编码','type': '类型','rule': '规则','cleared': '已清除','acknowledged': '已确认','started': '开始时间',
'last seen': '最近出现','acknowledged at': '确认时间','cleared at': '清除时间','occurrences': '出现次数','details': '详情','alarm': '告警','alarms': '告警',
'notification': '通知','notifications': '通知','RPC command': 'RPC 指令','Shared attributes': '共享属性','Queued': '排队中','Delivered': '已送达','Successful': '成功',
'Timed out': '超时','Failed': '失败','payload': '内容','RPC id': 'RPC 编号','status': '状态','response': '应答','expires': '过期时间','delivered': '送达时间','answered': '应答时间',
'command': '指令','commands': '指令','lights': '路灯','lighting group': '路灯分组','lighting groups': '路灯分组','entries': '时段','last applied': '最近执行',
'lighting schedule': '照明时间表','lighting schedules': '照明时间表','rejected messages': '拒收消息',
'Row %(row)d, column %(letter)s (%(header)s): %(message)s': '第 %(row)d 行 %(letter)s 列（%(header)s）：%(message)s','Row %(row)d: %(message)s': '第 %(row)d 行：%(message)s',
'The CSV file is neither UTF-8 nor GB18030 text.': 'CSV 文件既不是 UTF-8 也不是 GB18030 编码。','The file is empty. Fill in the template and upload it again.': '文件是空的。请填写模板后重新上传。',
'The file could not be read as an Excel workbook (.xlsx); it may be damaged or another kind of file.': '无法作为 Excel 工作簿（.xlsx）读取，文件可能已损坏或不是 Excel 文件。',
'The first sheet is empty: it has no header row. Start from the template.': '第一个工作表是空的，没有表头。请使用模板。',
'Missing columns: %(columns)s. Start from the template.': '缺少列：%(columns)s。请使用模板。','At most %(limit)d rows can be imported at once.': '一次最多导入 %(limit)d 行。',
'The device name is required.': '设备名称必填。','At most 100 characters.': '最多 100 个字符。','A device with this name exists already.': '已有同名设备。',
'The same name is on row %(row)d.': '与第 %(row)d 行名称重复。','No device profile is named 「%(name)s」.': '没有名为「%(name)s」的设备配置。',
'No region has the code 「%(code)s」.': '没有编码为「%(code)s」的区域。','Give a community (12 digits) or grid (15 digits) code.': '请填写社区（12 位）或网格（15 位）编码。',
'This region is outside your scope.': '该区域不在您的管辖范围内。','A token has 20 to 64 characters, without spaces or slashes.': '令牌为 20–64 个字符，不能有空格或斜杠。',
'This token is used by another device.': '该令牌已被其他设备使用。','The same token is on row %(row)d.': '与第 %(row)d 行令牌重复。','Write 是 or 否.': '请填写“是”或“否”。',
'Not a number.': '不是数字。','Outside China (WGS-84 degrees).': '坐标不在中国境内（WGS-84 度）。','No house with this address in your scope.': '您的管辖范围内没有此地址的房屋。',
"The house is not in the row's community.": '该房屋不在本行所填社区内。','No public facility with this code in your scope.': '您的管辖范围内没有此编码的部件。',
'Another import created some of these devices meanwhile; nothing was written. Try again.': '另一导入同时创建了其中部分设备，本次未写入任何数据，请重试。',
'The level is a whole number from 0 to 100.': '亮度为 0–100 的整数。','Unknown command.': '未知指令。','Each entry needs a time HH:MM and a level 0–100.': '每项须有时间 HH:MM 和 0–100 的亮度。',
'not acknowledged': '未确认','Acknowledge': '确认','Clear': '清除','Created': '创建时间','Answer': '应答','No commands sent yet.': '尚未发送指令。',
'Devices': '设备','Alarms': '告警','Street lighting': '智慧路灯','Profiles and rules': '配置与规则','My notifications': '我的通知','Import devices': '导入设备',
'Show': '显示','Type': '类型','Device': '设备','Started': '开始时间','No alarms match.': '没有符合条件的告警。','Online': '在线','Region': '区域','House': '房屋','Facility': '部件',
'Last activity': '最后活动','Offline after': '离线判定','%(s)s s without activity': '无活动 %(s)s 秒','Access token': '访问令牌','Generate a new token': '重新生成令牌',
'Latest values': '最新数据','No data yet.': '暂无数据。','Attributes': '属性','Recent telemetry': '近期遥测','Time range': '时间范围','1 hour': '1 小时','24 hours': '24 小时','7 days': '7 天',
'No data in this period.': '该时段没有数据。','No alarms.': '没有告警。','Commands': '指令','Send': '发送','Send RPC': '发送 RPC','Add a device': '添加设备','Name or label': '名称或显示名称',
'Region code': '区域编码','Alarm': '告警','No devices match.': '没有符合条件的设备。','Messages refused by the ingest service (24 hours)': '接入服务拒收的消息（24 小时）',
'Save': '保存','Cancel': '取消','Download the template': '下载模板','Import': '导入',
'All or nothing: if any row has an error, no device is created and every error is listed with its row and column. Leave the token blank to have one generated.': '全部成功才写入：任何一行有错误都不会创建设备，并列出每个错误所在的行和列。令牌留空将自动生成。',
'Profiles:': '设备配置：','Download their access tokens': '下载访问令牌','Energy, last 7 days': '近 7 天能耗','At full power': '全功率','Used': '实际用电','Saved by the schedule': '时间表节电',
'Lights metered': '有计量数据的路灯','Command all lights': '控制全部路灯','Daily schedule': '每日时间表','Save schedule': '保存时间表','Recent commands': '近期指令','Lights': '路灯','Group': '分组',
'off': '停用','No lighting groups.': '没有路灯分组。','New': '新','Nothing to report.': '暂无通知。','Edit': '编辑','Kind': '类型','Reporting period': '上报周期','Rated power': '额定功率',
'Self-provisioning': '设备自注册','None declared.': '未声明。','Alarm rules': '告警规则','New rule': '新建规则','Alarm type': '告警类型','Condition': '条件','Grid event': '网格事件',
'for %(s)s s': '持续 %(s)s 秒','clears past %(v)s': '越过 %(v)s 才清除','normal for %(s)s s to clear': '正常 %(s)s 秒后清除','Delete': '删除','No rules: this profile raises no alarms.': '没有规则：此配置不产生告警。',
'Device profiles': '设备配置','New profile': '新建配置','Rules': '规则','Offline after (s)': '离线判定（秒）','No profiles yet.': '尚无设备配置。','IoT': '物联网',
'Your role may not operate devices.': '您的角色不能操作设备。','Your role may not add devices.': '您的角色不能添加设备。','Only district administrators change device profiles and rules.': '只有区管理员可以修改设备配置和规则。',
'Command queued; its delivery status is shown below.': '指令已排队，下方显示送达状态。','A new access token was generated; the device must be given it.': '已生成新的访问令牌，请配置到设备上。',
'Device added. Give it its access token.': '设备已添加，请为设备配置访问令牌。','Edit profile': '编辑配置','New device profile': '新建设备配置','Rule saved; devices use it within a few seconds.': '规则已保存，数秒内生效。',
'Edit rule': '编辑规则','Rule deleted.': '规则已删除。','%(n)d devices were created. Download their access tokens below.': '已创建 %(n)d 台设备，请在下方下载访问令牌。','Schedule saved.': '时间表已保存。',
'Command queued for %(n)d lights.': '已为 %(n)d 盏路灯排队发送指令。',
'High temperature': '高温', 'Temperature rising fast': '温度骤升', 'Low battery': '电量低', 'Smoke': '烟雾',
'Water leak': '漏水', 'Combustible gas': '可燃气体泄漏', 'No water use': '长时间未用水', 'No data': '无数据',
'Overload': '过载', 'Person trapped in a lift': '电梯困人', 'Lift fault': '电梯故障', 'Charger overheating': '充电桩过热',
'Lamp fault': '灯具故障', 'Door forced open': '强行开门', 'SOS call': '一键求助', 'Air pollution': '空气污染', 'Noise': '噪声超标', 'Session': '连接', 'connected': '已连接', 'not connected': '未连接',
}
PLURALS = {
'%(n)s new notification': '%(n)s 条新通知','%(n)s error: nothing was created.': '%(n)s 个错误：未创建任何设备。','%(n)s device created.': '已创建 %(n)s 台设备。',
}
import sys
path = sys.argv[1]
po = polib.pofile(path)
missing = []
for e in po:
    if e.msgid_plural:
        if e.msgid in PLURALS:
            e.msgstr_plural = {0: PLURALS[e.msgid]}
        else:
            missing.append(e.msgid)
    elif e.msgid in ZH:
        e.msgstr = ZH[e.msgid]
    else:
        missing.append(e.msgid)
    if 'fuzzy' in e.flags: e.flags.remove('fuzzy')
po.metadata['Plural-Forms'] = 'nplurals=1; plural=0;'
po.metadata['Content-Type'] = 'text/plain; charset=UTF-8'
po.metadata['Language'] = 'zh_Hans'
po.save()
print('missing', missing)
