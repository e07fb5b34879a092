"""Menu events and WeChat's reports, in the shapes WeChat documents (nested elements
included): every one is answered 200, stored once, and a retry gets the same answer.

The samples follow the examples of WeChat's 自定义菜单事件推送, 订阅通知事件推送,
群发结果, 发布结果, 模板消息, 客服, 微信认证, 卡券, 门店, 摇一摇 and 微信连Wi-Fi
documentation, as the public SDKs' tests carry them.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from handlers import texts
from models.tables import HelpRequest, Message
from tests.wechat_client import FakeWeChat, reply_text

HEAD = (
    "<xml><ToUserName><![CDATA[gh_farmhelp_test]]></ToUserName>"
    "<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{time}</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>"
)
SAMPLES = {
    "pic_photo_or_album": "<EventKey><![CDATA[photo]]></EventKey><SendPicsInfo><Count>2</Count>"
    "<PicList><item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum></item>"
    "<item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item>"
    "</PicList></SendPicsInfo>",
    "pic_sysphoto": "<EventKey><![CDATA[6]]></EventKey><SendPicsInfo><Count>1</Count><PicList>"
    "<item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item>"
    "</PicList></SendPicsInfo>",
    "pic_weixin": "<EventKey><![CDATA[6]]></EventKey><SendPicsInfo><Count>1</Count><PicList>"
    "<item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum></item>"
    "</PicList></SendPicsInfo>",
    "location_select": "<EventKey><![CDATA[where]]></EventKey><SendLocationInfo>"
    "<Location_X><![CDATA[32.2]]></Location_X><Location_Y><![CDATA[105.1]]></Location_Y>"
    "<Scale><![CDATA[15]]></Scale><Label><![CDATA[青川县木鱼镇石坝村]]></Label>"
    "<Poiname><![CDATA[]]></Poiname></SendLocationInfo>",
    "scancode_push": "<EventKey><![CDATA[scan]]></EventKey><ScanCodeInfo>"
    "<ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[1]]></ScanResult>"
    "</ScanCodeInfo>",
    "scancode_waitmsg": "<EventKey><![CDATA[scan]]></EventKey><ScanCodeInfo>"
    "<ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[2]]></ScanResult>"
    "</ScanCodeInfo>",
    "subscribe_msg_popup_event": "<SubscribeMsgPopupEvent><List>"
    "<TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>"
    "<SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>"
    "<PopupScene>2</PopupScene></List><List>"
    "<TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>"
    "<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>"
    "<PopupScene>2</PopupScene></List></SubscribeMsgPopupEvent>",
    "subscribe_msg_change_event": "<SubscribeMsgChangeEvent><List>"
    "<TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>"
    "<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List>"
    "</SubscribeMsgChangeEvent>",
    "subscribe_msg_sent_event": "<SubscribeMsgSentEvent><List>"
    "<TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>"
    "<MsgID>1700827132819554304</MsgID><ErrorCode>0</ErrorCode>"
    "<ErrorStatus><![CDATA[success]]></ErrorStatus></List></SubscribeMsgSentEvent>",
    "MASSSENDJOBFINISH": "<MsgID>1988</MsgID><Status><![CDATA[sendsuccess]]></Status>"
    "<TotalCount>100</TotalCount><FilterCount>80</FilterCount><SentCount>75</SentCount>"
    "<ErrorCount>5</ErrorCount><CopyrightCheckResult><Count>1</Count><ResultList><item>"
    "<ArticleIdx>1</ArticleIdx><UserDeclareState>0</UserDeclareState>"
    "<AuditState>2</AuditState><OriginalArticleUrl><![CDATA[Url_1]]></OriginalArticleUrl>"
    "<OriginalArticleType>1</OriginalArticleType><CanReprint>1</CanReprint>"
    "<NeedReplaceContent>1</NeedReplaceContent><NeedShowReprintSource>1</NeedShowReprintSource>"
    "</item></ResultList><CheckState>2</CheckState></CopyrightCheckResult>"
    "<ArticleUrlResult><Count>1</Count><ResultList><item><ArticleIdx>1</ArticleIdx>"
    "<ArticleUrl><![CDATA[Url]]></ArticleUrl></item></ResultList></ArticleUrlResult>",
    "PUBLISHJOBFINISH": "<PublishEventInfo><publish_id>2247503051</publish_id>"
    "<publish_status>0</publish_status><article_id><![CDATA[b5O2OUs25HBxRceL7hfReg-U9Qfe]]>"
    "</article_id><article_detail><count>1</count><item><idx>1</idx>"
    "<article_url><![CDATA[ARTICLE_URL]]></article_url></item></article_detail>"
    "</PublishEventInfo>",
    "kf_create_session": "<KfAccount><![CDATA[test1@test]]></KfAccount>",
    "qualification_verify_success": "<ExpiredTime>1442401156</ExpiredTime>",
    # The rest of the events WeChat pushes to a service account, as documented.
    "VIEW": "<EventKey><![CDATA[http://www.qq.com/]]></EventKey><MenuId>208379533</MenuId>",
    "view_miniprogram": "<EventKey><![CDATA[pages/index/index]]></EventKey><MenuId>MENUID</MenuId>",
    "TEMPLATESENDJOBFINISH": "<MsgID>200163836</MsgID><Status><![CDATA[success]]></Status>",
    "kf_close_session": "<KfAccount><![CDATA[test1@test]]></KfAccount>",
    "kf_switch_session": "<FromKfAccount><![CDATA[test1@test]]></FromKfAccount>"
    "<ToKfAccount><![CDATA[test2@test]]></ToKfAccount>",
    "merchant_order": "<OrderId><![CDATA[test_order_id]]></OrderId><OrderStatus>2</OrderStatus>"
    "<ProductId><![CDATA[test_product_id]]></ProductId>"
    "<SkuInfo><![CDATA[10001:1000012;10002:100021]]></SkuInfo>",
    "ShakearoundUserShake": "<ChosenBeacon><Uuid><![CDATA[uuid]]></Uuid><Major>major</Major>"
    "<Minor>minor</Minor><Distance>0.057</Distance></ChosenBeacon><AroundBeacons>"
    "<AroundBeacon><Uuid><![CDATA[uuid]]></Uuid><Major>major</Major><Minor>minor</Minor>"
    "<Distance>166.816</Distance></AroundBeacon><AroundBeacon><Uuid><![CDATA[uuid]]></Uuid>"
    "<Major>major</Major><Minor>minor</Minor><Distance>15.013</Distance></AroundBeacon>"
    "</AroundBeacons>",
    "WifiConnected": "<ConnectTime>0</ConnectTime><ExpireTime>0</ExpireTime>"
    "<VendorId><![CDATA[3001224419]]></VendorId><PlaceId><![CDATA[1234]]></PlaceId>"
    "<DeviceNo><![CDATA[00:1f:7a:ad:5c:a8]]></DeviceNo>",
    "qualification_verify_fail": "<FailTime>1442401122</FailTime>"
    "<FailReason><![CDATA[by time]]></FailReason>",
    "naming_verify_success": "<ExpiredTime>1442401093</ExpiredTime>",
    "naming_verify_fail": "<FailTime>1442401061</FailTime>"
    "<FailReason><![CDATA[by time]]></FailReason>",
    "annual_renew": "<ExpiredTime>1442401004</ExpiredTime>",
    "verify_expired": "<ExpiredTime>1442400900</ExpiredTime>",
    "user_get_card": "<CardId><![CDATA[po2VNuCuRo-8sxxxxxxxxxxx]]></CardId>"
    "<IsGiveByFriend>0</IsGiveByFriend><UserCardCode><![CDATA[226009850808]]></UserCardCode>"
    "<FriendUserName><![CDATA[]]></FriendUserName><OuterId>0</OuterId>"
    "<OldUserCardCode><![CDATA[]]></OldUserCardCode><OuterStr><![CDATA[12b]]></OuterStr>"
    "<IsRestoreMemberCard>0</IsRestoreMemberCard><IsRecommendByFriend>0</IsRecommendByFriend>",
    "card_pass_check": "<CardId><![CDATA[4ZFuXRm0ea6eUDaBmNnR8pKSuUfAA]]></CardId>"
    "<RefuseReason><![CDATA[非法代制]]></RefuseReason>",
    "poi_check_notify": "<UniqId><![CDATA[123adb]]></UniqId><PoiId><![CDATA[123123]]></PoiId>"
    "<Result><![CDATA[fail]]></Result><Msg><![CDATA[xxxxxx]]></Msg>",
}
ANSWERED_FOR_A_PERSON = {"scancode_waitmsg": texts.HELP}
# Where each sample's nested structure is, to check it is stored whole.
NESTED = {
    "pic_photo_or_album": ("SendPicsInfo", "PicList", "item", 1, "PicMd5Sum"),
    "pic_sysphoto": ("SendPicsInfo", "PicList", "item", "PicMd5Sum"),
    "pic_weixin": ("SendPicsInfo", "Count"),
    "location_select": ("SendLocationInfo", "Label"),
    "scancode_push": ("ScanCodeInfo", "ScanResult"),
    "scancode_waitmsg": ("ScanCodeInfo", "ScanType"),
    "subscribe_msg_popup_event": ("SubscribeMsgPopupEvent", "List", 1, "SubscribeStatusString"),
    "subscribe_msg_change_event": ("SubscribeMsgChangeEvent", "List", "SubscribeStatusString"),
    "subscribe_msg_sent_event": ("SubscribeMsgSentEvent", "List", "ErrorStatus"),
    "MASSSENDJOBFINISH": ("CopyrightCheckResult", "ResultList", "item", "AuditState"),
    "PUBLISHJOBFINISH": ("PublishEventInfo", "article_detail", "item", "article_url"),
    "kf_create_session": ("KfAccount",),
    "qualification_verify_success": ("ExpiredTime",),
    "VIEW": ("MenuId",),
    "view_miniprogram": ("MenuId",),
    "TEMPLATESENDJOBFINISH": ("Status",),
    "kf_close_session": ("KfAccount",),
    "kf_switch_session": ("ToKfAccount",),
    "merchant_order": ("SkuInfo",),
    "ShakearoundUserShake": ("AroundBeacons", "AroundBeacon", 1, "Distance"),
    "WifiConnected": ("DeviceNo",),
    "qualification_verify_fail": ("FailReason",),
    "naming_verify_success": ("ExpiredTime",),
    "naming_verify_fail": ("FailReason",),
    "annual_renew": ("ExpiredTime",),
    "verify_expired": ("ExpiredTime",),
    "user_get_card": ("UserCardCode",),
    "card_pass_check": ("RefuseReason",),
    "poi_check_notify": ("Result",),
}


def push(client: FlaskClient, wechat: FakeWeChat, xml: str) -> tuple[int, str]:
    query, body = wechat.envelope_xml(xml.encode())
    response = client.post("/wechat", query_string=query, data=body)
    if response.status_code != 200 or response.data == b"success":
        return response.status_code, response.get_data(as_text=True)
    return 200, reply_text(wechat, response)


@pytest.mark.parametrize("event", list(SAMPLES))
def test_every_documented_event_is_stored_and_answered(
    event: str, client: FlaskClient, wechat: FakeWeChat, engine: Engine
) -> None:
    openid = f"farmer-{event.lower()}"[:60]
    xml = HEAD.format(openid=openid, time=1700000000, event=event) + SAMPLES[event] + "</xml>"
    first = push(client, wechat, xml)
    again = push(client, wechat, xml)  # WeChat's retry of the same push
    assert first[0] == 200, first
    assert again == first
    assert first[1] == ANSWERED_FOR_A_PERSON.get(event, "success")
    with Session(engine) as session:
        stored = session.exec(select(Message).where(Message.openid == openid)).all()
        opened = session.exec(select(HelpRequest)).all()
    incoming = [m for m in stored if m.direction == "in"]
    # Delivery reports are told apart by the message they report on.
    report = {"MASSSENDJOBFINISH": ":1988", "TEMPLATESENDJOBFINISH": ":200163836"}.get(event, "")
    expected = f"evt:{openid}:1700000000:{event.lower()}{report}"
    assert len(incoming) == 1 and incoming[0].dedupe_key == expected
    assert opened == []  # a report or a menu tap opens no request by itself
    kept: object = incoming[0].payload
    for step in NESTED[event]:  # the nested elements are kept whole
        kept = kept[step]  # type: ignore[index]
    assert isinstance(kept, str) and kept


def test_a_photo_chosen_from_the_menu_opens_one_request_with_the_photo(
    client: FlaskClient, wechat: FakeWeChat, engine: Engine
) -> None:
    xml = HEAD.format(openid="farmer-menu", time=1700000100, event="pic_photo_or_album")
    assert push(client, wechat, xml + SAMPLES["pic_sysphoto"] + "</xml>") == (200, "success")
    query, body = wechat.envelope(
        wechat.message("farmer-menu", "image", PicUrl="http://p", MediaId="menu-photo")
    )
    reply = reply_text(wechat, client.post("/wechat", query_string=query, data=body))
    assert "求助编号" in reply
    with Session(engine) as session:
        opened = session.exec(select(HelpRequest)).all()
    assert len(opened) == 1


def test_a_location_chosen_from_the_menu_keeps_no_coordinates_without_consent(
    client: FlaskClient, wechat: FakeWeChat, engine: Engine
) -> None:
    xml = HEAD.format(openid="farmer-where", time=1700000000, event="location_select")
    push(client, wechat, xml + SAMPLES["location_select"] + "</xml>")
    with Session(engine) as session:
        stored = session.exec(select(Message).where(Message.openid == "farmer-where")).one()
    kept = stored.payload["SendLocationInfo"]
    assert kept["Label"] == "青川县木鱼镇石坝村"
    assert "Location_X" not in kept and "Location_Y" not in kept and "Scale" not in kept
