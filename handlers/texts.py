"""Every sentence a farmer reads, in one place: short, plain and friendly."""

from __future__ import annotations

from datetime import timedelta

# Names that already carry a title are not followed by 专家 (钱团长, 赵老师).
_TITLES = (
    *("专家", "老师", "团长", "站长", "主任", "队长", "组长"),
    *("教授", "研究员", "技术员", "农艺师"),
)


def duration_words(span: timedelta) -> str:
    """A duration as a farmer reads it: 3 年, 30 天, 12 小时."""
    days = span.days
    if days >= 365 and days % 365 == 0:
        return f"{days // 365} 年"
    if days >= 1:
        return f"{days} 天"
    return f"{max(1, round(span.total_seconds() / 3600))} 小时"


def expert_title(name: str) -> str:
    """How people see an expert named: 王植保专家, but 钱团长 (not 钱团长专家)."""
    return name if name.endswith(_TITLES) else f"{name}专家"


WELCOME = (
    "欢迎关注！庄稼、果树、牲畜、鱼塘遇到问题，直接打字、说话或拍照发给我们，"
    "我们会请农技专家来帮您。"
)
WELCOME_VILLAGE = "\n您扫的是{place}的二维码，我们记下您在{place}。"
SCANNED_VILLAGE = "记下了，您在{place}。"
PRIVACY_NOTICE = (
    "\n为请专家帮您，我们会保存您发来的文字、语音、照片和村名，只用于这项服务。"
    "说明和删除办法：{url}"
)
UNSUPPORTED = "这类消息我们暂时看不懂。请打字、说话或拍张照片，告诉我们遇到了什么问题。"
HELP = "有问题直接发文字、语音或照片给我们就行，我们会请农技专家来帮您。"
SYSTEM_BUSY = "系统有点忙，您的消息已经收到，我们会尽快处理。"
LOCATION_NOTED = "已记下您的位置：{place}。"
LOCATION_NOTED_FOR_REQUEST = "已记下您的位置：{place}，补充到求助 {code}。"
ADDED_TO_REQUEST = "已补充到求助 {code}。"
MESSAGE_TOO_LONG = "您的消息太长了，我们只保留了前 {limit} 字。"
REQUEST_FULL = "求助 {code} 的文字已经很多了，这条消息记在对话里，专家能看到。"

OPENED = "收到，求助编号 {code}。"
OPENED_WITH_PHOTO = "收到照片，求助编号 {code}。"
QUESTIONS = {
    "crop": "请问是什么作物或牲畜？回个名字就行，比如“玉米”“猪”。不知道就回“跳过”。",
    "crop_voice": ("语音没听清。请打几个字说说是什么作物或牲畜、出了什么问题，或者拍张照片发来。"),
    "symptom": "看上去是什么样子？比如叶子发黄、有斑点、不吃食。能拍张照片发来最好。"
    "不知道就回“跳过”。",
    "place": "您在哪个村？回村名就行，也可以发个位置。不想说就回“跳过”。",
}
PLACE_CHOICE = "有几个村叫这个名字，您是哪一个？回数字就行：{choices}"
CONFIRMED = "好的，求助 {code} 已登记：{summary}。我们正在联系专家，专家接单后会马上告诉您。"
CONFIRMED_URGENT = "好的，求助 {code} 已登记：{summary}。情况紧急，已优先通知专家。"
URGENT_WILL_CALL = "专家会打您留的电话 {phone}。"
URGENT_LEAVE_PHONE = "方便的话回复您的手机号，专家可以直接打电话给您。"
CONFIRMED_NOBODY = (
    "好的，求助 {code} 已登记：{summary}。现在没有在值班的对口专家，我们已经通知负责人"
    "尽快安排，有专家接单会马上告诉您。"
)
GREETING = "您好！庄稼、果树、牲畜、鱼塘遇到什么问题，直接打字、说话或拍照发给我们就行。"
YOU_ARE_WELCOME = "不客气！有问题随时发给我们。"
ACKNOWLEDGED = "好的。有问题随时发给我们。"
ASK_WHAT_PROBLEM = (
    "您好！请说说遇到了什么问题：什么庄稼或牲畜、什么症状、在哪个村。也可以直接拍照或说话发给我们。"
)
SECOND_PROBLEM = "这是另一个问题，我们单独登记（求助 {earlier} 照常处理）。"
FAREWELL = "再见！庄稼牲畜有问题随时发给我们。"
STATUS_NO_REQUEST = "您现在没有进行中的求助。遇到什么问题，直接打字、说话或拍照发给我们就行。"
STATUS_INTAKE = "求助 {code} 还差一点情况就能找专家了。"
STATUS_LOOKING = "求助 {code} 正在联系专家，专家接单后会马上告诉您。"
STATUS_UNASSIGNED = "求助 {code}：暂时还没有专家接单，县里的负责人正在安排，请您稍等。"
STATUS_ACCEPTED = "求助 {code} 由{name}负责，还没约上门时间。您可以直接在这里和专家说。"
STATUS_BOOKED = "求助 {code}：{name}预约 {when} 上门，请留意。"
STATUS_FORWARDED = "（您的话也转给了专家。）"
PERSON_NO_REQUEST = (
    "好的。请直接说说遇到了什么问题（作物或牲畜、症状、哪个村），我们马上找专家；"
    "急事请留下手机号，专家会打给您。"
)
PERSON_WITH_REQUEST = "着急的话请留下手机号，专家会打给您。"
CONFIRM_CANCEL = "要取消求助 {code} 吗？回复“是”取消；不取消就继续说情况。"
NOT_CANCELLED = "好的，求助 {code} 不取消，继续为您处理。"
PHONE_NOTED = "已记下您的电话，专家需要时会打给您。有问题直接发给我们就行。"
PHONE_NOTED_FOR_REQUEST = "已记下您的电话，接单的专家可以直接打给您（求助 {code}）。"
VOICE_ADDED = "收到语音，已补充到求助 {code}，专家能听到。语音没听清的话，打几个字说说会更快。"
INTAKE_MOVED_ON = "求助 {code}：我们先按您已经说的情况联系专家了。想补充什么，直接发给我们就行。"
INTAKE_MOVED_ON_NOBODY = (
    "求助 {code}：我们先按您已经说的情况登记了。现在没有在值班的对口专家，已通知负责人尽快安排。"
)
CANCELLED = "求助 {code} 已取消。以后有问题随时发给我们。"
NOTHING_TO_CANCEL = "您现在没有进行中的求助。有问题直接发给我们就行。"

CATEGORY_NAMES = {
    "plant_protection": "病虫害",
    "cultivation": "栽培管理",
    "soil_fertilizer": "土壤肥料",
    "livestock": "畜牧兽医",
    "aquaculture": "水产养殖",
    "machinery": "农机",
    "market": "销售市场",
    "other": "其他",
}
URGENCY_NAMES = {"urgent": "紧急", "normal": "一般", "low": "不急"}

# Routing and paging.
ADDED_FORWARDED = "已转给专家。"
EXPERT_PAGE = (
    "【新求助 {code}】{board}\n{summary}\n地点：{place}\n农户说：{words}\n"
    "回复“接单 {code}”接单，回复“拒绝 {code} 理由”拒绝。"
)
STAFF_ALERT = (
    "【需要协调 {code}】{reason}\n{crop} · {category} · {urgency}\n地点：{place}\n"
    "{reach}\n请安排专家或联系农户。"
)
STAFF_FARMER_PHONE = "农户电话：{phone}"
STAFF_FARMER_NO_PHONE = "农户没有留电话（专家接单后可通过公众号和农户对话）"
FARMER_ACCEPTED = (
    "好消息：{team}的{name}接了您的求助 {code}，会尽快联系您。您现在发的消息会直接转给专家。"
)
FARMER_WAITING = "求助 {code}：暂时没有能接单的专家，我们已经通知负责人，会尽快安排，请您稍等。"
FARMER_BY_PHONE = "求助 {code}：{name}会打电话给您，请留意来电。"
FARMER_REMOTE = "求助 {code}：{name}会在这里给您出主意，有照片可以继续发来。"
FARMER_VISIT_BOOKED = "求助 {code}：{name}预约 {when} 上门，请留意。"
FARMER_VISITED = "求助 {code}：{name}已记录这次服务。\n诊断和建议：{record}"
EXPERT_RELAY = "【{code} 农户】{content}"
EXPERT_RELAY_MEDIA = "【{code} 农户】发来{kind}，见下条。"
OFFER_TAKEN = "求助 {code} 已被其他专家接走，谢谢。"
MEDIA_NAMES = {"image": "照片", "voice": "语音", "video": "视频", "shortvideo": "视频"}
TASKS_NOT_LISTED = "……另有 {count} 个没列出，见下面的全部任务。"
EXPERT_FARMER_ERASED = "求助 {code} 的农户删除了个人信息，这个求助已结束，不用再处理了，谢谢。"
MY_DATA_LINK = "这是只给您看的链接，能看到并下载我们存的您的全部信息（{days}内有效）：{link}"
ERASE_ASK = (
    "确定要删除您的个人信息吗？会删掉您发过的文字、语音、照片、电话和位置，"
    "进行中的求助也会结束。确定请在 10 分钟内回复“确认删除”。"
)
ERASE_EXPERT = "专家账号的服务记录属于县里的服务台账，不能在这里删除。有需要请联系县农业农村局。"
ERASE_DONE = "已删除您的个人信息。以后有问题，随时再发给我们。"
ERASE_NOT_ASKED = "要删除您的个人信息，请先回复“删除我的信息”。"
LOCATION_KEPT = "好的，以后您发的定位会保存准确位置，方便专家找到地头。回复“不留定位”随时收回。"
LOCATION_DROPPED = "好的，准确位置已经删掉，以后定位只记到村。"
LOCATION_VILLAGE_ONLY = "（定位只记到村。想让专家按定位找到地头，回复“留定位”再发一次位置。）"
EXPERT_CANCELLED = "农户取消了求助 {code}，不用再处理了，谢谢。"

# Follow-up survey (回访).
SURVEY_SOLVED = "求助 {code} 回访：{name}的服务后，问题解决了吗？回复 1 已解决 2 部分解决 3 没解决"
SURVEY_SOLVED_AGAIN = "请回复一个数字：1 已解决 2 部分解决 3 没解决"
SURVEY_REMINDER = "提醒一下，" + SURVEY_SOLVED
SURVEY_RATING = "请给专家打分，回复 1-5（5 分最好）"
SURVEY_RATING_AGAIN = "请回复 1 到 5 中的一个数字（5 分最好）"
SURVEY_REOPENED = "很抱歉没帮上忙，我们马上另找专家。"
SURVEY_COMMENT = "谢谢！还有什么想说的吗？直接回复就行，没有就回“没有”。"
SURVEY_THANKS = "谢谢您的反馈！"
SURVEY_THANKS_COMMENT = "谢谢，您的意见我们记下了。"
SURVEY_LINK = "\n也可以点开链接，点一下就评价：{link}"
SURVEY_TEMPLATE_ASK = "点开评价，或回复数字1-3"
SURVEY_PAGE_DONE = "谢谢您的评价！已经记下了。"
SURVEY_PAGE_ANSWERED = "这次回访您已经评价过了，谢谢！"
SURVEY_PAGE_ENDED = "这次回访已经结束了。还有问题，直接在公众号里发给我们。"
STAFF_SURVEY_REOPEN = "回访：{reason}，已重新派单"
EXPERT_ROUND_OUTCOME = "求助 {code} 回访结果：{outcome}。已请其他专家再看看。{said}"
EXPERT_VISIT_SOON = "提醒：您预约了求助 {code} 在 {when} 上门（{place}）。"
EXPERT_OVERDUE = (
    "提醒：求助 {code} 接单已超过 {days} 天，还没有记录上门。看完请回复“完成 {code} 诊断和建议”。"
)
STAFF_OVERDUE = "接单超过 {days} 天未上门（{name}）"

# Names staff read in exports and pages.
STATUS_NAMES = {
    "intake": "登记中",
    "new": "待派单",
    "offered": "已派单待接",
    "unassigned": "无人接单",
    "accepted": "已接单",
    "visit_booked": "已预约上门",
    "visited": "已服务",
    "reopened": "重新派单",
    "closed": "已办结",
    "cancelled": "已取消",
}
SURVEY_STATE_NAMES = {
    "scheduled": "待回访",
    "sending": "待回访",
    "held": "等农户发消息后回访",
    "sent": "已发回访",
    "answered": "已回访",
    "expired": "回访无回复",
    "cancelled": "未回访",
}
# 值班调整 (handlers/rota.py): to the expert away, the one covering, and their leader.
SWAP_TO_ABSENT = "值班调整：{when}由{cover}替您值班，这段时间的派单发给{cover}。"
SWAP_TO_COVER = "值班调整：{when}请您替{absent}值班，这段时间的派单会发给您。"
SWAP_TO_LEADER = "值班调整：{when}由{cover}替{absent}值班（{by}安排）。"
SOLVED_NAMES = {"yes": "已解决", "partly": "部分解决", "no": "没解决"}

STAFF_PAGE_UNDELIVERED = (
    "给{expert}的派单微信没送到（{status}，可能拒收了公众号消息），已转给下一位专家；"
    "请电话联系该专家"
)
ACCOUNT_DISABLED_PAGE = "您的专家账号已停用。如有疑问请联系县农业农村局。"

# From the staff console.
STAFF_REASSIGNED = "求助 {code} 已由县里的工作人员改派给其他专家，您不用再处理了，谢谢。"
STAFF_CHOSE_OTHER = "求助 {code} 县里的工作人员已改派给{name}，您不用接了，谢谢。"
STAFF_CLOSED_EXPERT = "求助 {code} 已由县里的工作人员办结，您不用再处理了，谢谢。"
STAFF_CLOSED_FARMER = "求助 {code} 已由县里的工作人员办结。以后有问题随时发给我们。"

# Consultation (会诊).
CONSULT_INVITE = (
    "【会诊邀请 {code}】{holder}请您帮忙看看这个求助：{summary}。\n"
    "打开看照片和对话，写下您的意见：{link}\n您的意见只有专家和工作人员看得到。"
)
CONSULT_NOTE = "【会诊意见 {code}】{name}：{text}"

# How the treatment worked, a set time after the visit.
OUTCOME_QUESTION = (
    "求助 {code}：{name}上次看过后，现在怎么样了？请回复：好了 / 好一些 / 没变化 / 更重了"
    "（也可以回数字：1 好了 2 好一些 3 没变化 4 更重了）。方便的话再拍张照片发来。"
)
OUTCOME_THANKS = {
    "recovered": "太好了！已记下：求助 {code} 用药后好了。谢谢您告诉我们。",
    "better": "已记下：求助 {code} 用药后好一些了。还需要专家的话，直接说明情况。",
    "same": ("已记下：求助 {code} 用药后没变化，已告诉{name}。需要再看，请直接描述现在的情况。"),
    "worse": (
        "已记下：求助 {code} 用药后更重了，已告诉{name}和工作人员。"
        "请直接描述现在的情况，会给您重新找专家。"
    ),
}
OUTCOME_TO_EXPERT = "【{code} 回访】农户说用药 {days} 天后{outcome}：{words}"
OUTCOME_PHOTO = "照片收到了，已放进求助 {code}，专家能看到。"
OUTCOME_NAMES = {"recovered": "好了", "better": "好一些", "same": "没变化", "worse": "更重了"}

# Seeing ahead (事前主动): outbreak alerts and advisories.
OUTBREAK_ALERT = (
    "【疫情预警】{crop}，{where}：最近 {count} 个求助说到{symptoms}；编号 {codes}。"
    "请在管理后台查看，必要时给这一带的农户发预警通知。"
)
ADVISORY = "【{title}】\n{body}\n（县农技服务。不想再收到这类通知请回复“退订”）"
UNSUBSCRIBED_ADVISORIES = (
    "好的，以后不再给您发农情通知。有问题照样可以随时问我们；想再收到请回复“订阅”。"
)
SUBSCRIBED_ADVISORIES = "好的，以后有病虫害预警和农事提醒会发给您。不想收到请回复“退订”。"
