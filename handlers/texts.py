"""Every sentence a farmer reads, in one place: short, plain and friendly."""

WELCOME = (
    "欢迎关注！庄稼、果树、牲畜、鱼塘遇到问题，直接打字、说话或拍照发给我们，"
    "我们会请农技专家来帮您。"
)
UNSUPPORTED = "这类消息我们暂时看不懂。请打字、说话或拍张照片，告诉我们遇到了什么问题。"
HELP = "有问题直接发文字、语音或照片给我们就行，我们会请农技专家来帮您。"
SYSTEM_BUSY = "系统有点忙，您的消息已经收到，我们会尽快处理。"
LOCATION_NOTED = "已记下您的位置：{place}。"
LOCATION_NOTED_FOR_REQUEST = "已记下您的位置：{place}，补充到求助 {code}。"
ADDED_TO_REQUEST = "已补充到求助 {code}。"
