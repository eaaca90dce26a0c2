"""Content tables of the demo FAQ: entities and intents of each tenant in zh, en and ja.

Templates hold `{entity}`, filled with the entity's name in the template's language.
Answers may also hold `{n}`, a number drawn from the intent's `numbers` once per
(intent, entity), and `{price}`, the same number read as US dollars and shown in the
language's usual currency. FAQ templates become the stored questions; the held-out
evaluation queries are in `mm_platform.demo.queries`, one module per tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def _by_language(zh: T, en: T, ja: T) -> dict[str, T]:
    return {"zh": zh, "en": en, "ja": ja}


@dataclass(frozen=True)
class Entity:
    """Something the FAQ is about (a product, a medical service, a course)."""

    key: str
    name: dict[str, str]


@dataclass(frozen=True)
class Intent:
    """One kind of question, written in every language.

    `numbers` holds the values `{n}` (and so `{price}`) can take in the answer; answers
    without either ignore it.
    """

    key: str
    label: dict[str, str]
    faq: dict[str, tuple[str, ...]]
    answer: dict[str, str]
    numbers: range = range(1, 2)


@dataclass(frozen=True)
class TenantContent:
    """Everything one tenant's FAQ is generated from."""

    entities: tuple[Entity, ...]
    intents: tuple[Intent, ...]


def _entity(key: str, zh: str, en: str, ja: str) -> Entity:
    return Entity(key, _by_language(zh, en, ja))


def _intent(
    key: str,
    *,
    label: tuple[str, str, str],
    faq: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]],
    answer: tuple[str, str, str],
    numbers: range = range(1, 2),
) -> Intent:
    """Build an intent from (zh, en, ja) triples."""
    return Intent(
        key=key,
        label=_by_language(*label),
        faq=_by_language(*faq),
        answer=_by_language(*answer),
        numbers=numbers,
    )


ECOMMERCE_ENTITIES = (
    _entity("wireless_earbuds", "无线耳机", "wireless earbuds", "ワイヤレスイヤホン"),
    _entity("tv_4k", "4K电视", "4K TV", "4Kテレビ"),
    _entity("running_shoes", "跑鞋", "running shoes", "ランニングシューズ"),
    _entity("coffee_maker", "咖啡机", "coffee maker", "コーヒーメーカー"),
    _entity("smartphone", "智能手机", "smartphone", "スマートフォン"),
    _entity("laptop", "笔记本电脑", "laptop", "ノートパソコン"),
    _entity("tablet", "平板电脑", "tablet", "タブレット"),
    _entity("smartwatch", "智能手表", "smartwatch", "スマートウォッチ"),
    _entity("robot_vacuum", "扫地机器人", "robot vacuum", "ロボットクリーナー"),
    _entity("air_fryer", "空气炸锅", "air fryer", "ノンフライヤー"),
    _entity("blender", "破壁机", "blender", "ミキサー"),
    _entity("rice_cooker", "电饭煲", "rice cooker", "炊飯器"),
    _entity("electric_toothbrush", "电动牙刷", "electric toothbrush", "電動歯ブラシ"),
    _entity("hair_dryer", "吹风机", "hair dryer", "ヘアドライヤー"),
    _entity("game_console", "游戏机", "game console", "ゲーム機"),
    _entity("bluetooth_speaker", "蓝牙音箱", "Bluetooth speaker", "Bluetoothスピーカー"),
    _entity("digital_camera", "数码相机", "digital camera", "デジタルカメラ"),
    _entity("backpack", "双肩包", "backpack", "リュックサック"),
    _entity("down_jacket", "羽绒服", "down jacket", "ダウンジャケット"),
    _entity("jeans", "牛仔裤", "jeans", "ジーンズ"),
    _entity("yoga_mat", "瑜伽垫", "yoga mat", "ヨガマット"),
    _entity("office_chair", "办公椅", "office chair", "オフィスチェア"),
    _entity("standing_desk", "升降桌", "standing desk", "スタンディングデスク"),
    _entity("mattress", "床垫", "mattress", "マットレス"),
    _entity("sofa", "沙发", "sofa", "ソファ"),
    _entity("air_purifier", "空气净化器", "air purifier", "空気清浄機"),
    _entity("washing_machine", "洗衣机", "washing machine", "洗濯機"),
    _entity("refrigerator", "冰箱", "refrigerator", "冷蔵庫"),
    _entity("microwave", "微波炉", "microwave oven", "電子レンジ"),
    _entity("electric_kettle", "电热水壶", "electric kettle", "電気ケトル"),
    _entity("mechanical_keyboard", "机械键盘", "mechanical keyboard", "メカニカルキーボード"),
    _entity("gaming_mouse", "游戏鼠标", "gaming mouse", "ゲーミングマウス"),
    _entity("monitor", "显示器", "computer monitor", "パソコンモニター"),
    _entity("printer", "打印机", "printer", "プリンター"),
    _entity("e_reader", "电子书阅读器", "e-reader", "電子書籍リーダー"),
    _entity("electric_scooter", "电动滑板车", "electric scooter", "電動キックボード"),
    _entity("bicycle_helmet", "自行车头盔", "bicycle helmet", "自転車用ヘルメット"),
    _entity("suitcase", "行李箱", "suitcase", "スーツケース"),
    _entity("sunglasses", "太阳镜", "sunglasses", "サングラス"),
    _entity("skincare_set", "护肤套装", "skincare set", "スキンケアセット"),
)

ECOMMERCE_INTENTS = (
    _intent(
        "return_policy",
        label=("退货政策", "Return policy", "返品ポリシー"),
        faq=(
            ("{entity}的退货政策是什么？", "{entity}支持无理由退货吗？"),
            ("What is the return policy for the {entity}?", "How and by when can I return the {entity}?"),
            ("{entity}は返品できますか？", "{entity}を返品する方法を教えてください。"),
        ),
        answer=(
            "{entity}在签收后{n}天内可以无理由退货，请保持商品完好并保留原包装。",
            "You can return the {entity} within {n} days of delivery, as long as it is unused and in its original packaging.",
            "{entity}はお届けから{n}日以内であれば返品できます。未使用で、元のパッケージに入れてお送りください。",
        ),
        numbers=range(7, 31),
    ),
    _intent(
        "delivery_time",
        label=("配送时效", "Delivery time", "お届けまでの日数"),
        faq=(
            ("{entity}下单后多久能送到？", "{entity}的配送时间是多久？"),
            ("How long does delivery take for the {entity}?", "When will the {entity} arrive after I order it?"),
            ("{entity}は注文してから何日で届きますか？", "{entity}のお届けにはどのくらいかかりますか？"),
        ),
        answer=(
            "{entity}通常在下单后{n}个工作日内送达。",
            "The {entity} usually arrives within {n} business days of your order.",
            "{entity}は通常、ご注文から{n}営業日以内にお届けします。",
        ),
        numbers=range(1, 8),
    ),
    _intent(
        "shipping_cost",
        label=("运费", "Shipping cost", "送料"),
        faq=(
            ("{entity}的运费是多少？", "{entity}的运费谁来承担？"),
            ("How much is shipping for the {entity}?", "Is shipping free for the {entity}?"),
            ("{entity}の送料はいくらですか？", "{entity}は送料無料ですか？"),
        ),
        answer=(
            "{entity}的标准运费为{price}，会员订单包邮。",
            "Standard shipping for the {entity} costs {price}; members get free shipping.",
            "{entity}の通常送料は{price}です。会員の方は送料無料です。",
        ),
        numbers=range(3, 13),
    ),
    _intent(
        "order_tracking",
        label=("订单跟踪", "Order tracking", "配送状況の確認"),
        faq=(
            ("怎么查询{entity}订单的物流状态？", "我的{entity}物流显示到哪里了？"),
            ("How can I track my order for the {entity}?", "Where can I see tracking information for my {entity} order?"),
            ("{entity}の配送状況を追跡できますか？", "注文した{entity}の荷物を追跡するには？"),
        ),
        answer=(
            "{entity}发货后，您可在“我的订单”中查看物流信息，物流状态每{n}小时更新一次。",
            "Once the {entity} ships, you can follow it under My Orders; tracking updates every {n} hours.",
            "{entity}の発送後は「注文履歴」から配送状況を確認できます。情報は{n}時間ごとに更新されます。",
        ),
        numbers=range(2, 7),
    ),
    _intent(
        "cancel_order",
        label=("取消订单", "Cancel an order", "注文のキャンセル"),
        faq=(
            ("{entity}的订单可以取消吗？", "怎么取消我刚下单的{entity}？"),
            ("Can I cancel my order for the {entity}?", "How do I cancel the {entity} I just ordered?"),
            ("{entity}の注文はキャンセルできますか？", "注文したばかりの{entity}をキャンセルするには？"),
        ),
        answer=(
            "{entity}在下单后{n}小时内且未发货时，可在订单页面直接取消。",
            "You can cancel the {entity} from your order page within {n} hours, as long as it has not shipped yet.",
            "{entity}は、発送前であればご注文から{n}時間以内に注文ページからキャンセルできます。",
        ),
        numbers=range(1, 25),
    ),
    _intent(
        "payment_methods",
        label=("支付方式", "Payment methods", "お支払い方法"),
        faq=(
            ("购买{entity}可以用哪些支付方式？", "{entity}支持信用卡付款吗？"),
            ("What payment methods can I use for the {entity}?", "Is credit card payment available for the {entity}?"),
            ("{entity}の支払い方法には何がありますか？", "{entity}はクレジットカードで払えますか？"),
        ),
        answer=(
            "{entity}支持信用卡、支付宝和微信支付，也可分{n}期免息付款。",
            "For the {entity} we accept credit cards, PayPal and Apple Pay, and you can split the price into {n} interest-free installments.",
            "{entity}はクレジットカード、PayPay、コンビニ払いに対応しており、{n}回までの分割払いも手数料無料です。",
        ),
        numbers=range(3, 13, 3),
    ),
    _intent(
        "warranty",
        label=("保修", "Warranty", "保証"),
        faq=(
            ("{entity}的保修期是多久？", "{entity}有厂家保修吗？"),
            ("How long is the warranty on the {entity}?", "Does the {entity} come with a manufacturer's warranty?"),
            ("{entity}の保証期間はどのくらいですか？", "{entity}にメーカー保証はついていますか？"),
        ),
        answer=(
            "{entity}享受{n}个月的厂家保修，非人为故障可免费维修。",
            "The {entity} has a {n}-month manufacturer's warranty that covers defects not caused by misuse.",
            "{entity}には{n}か月のメーカー保証があり、通常の使用による故障は無料で修理します。",
        ),
        numbers=range(12, 37, 12),
    ),
    _intent(
        "size_and_specs",
        label=("尺寸规格", "Size and specifications", "サイズ・仕様"),
        faq=(
            ("{entity}的尺寸和规格是多少？", "{entity}有哪些尺寸规格可以选？"),
            ("What are the dimensions and specifications of the {entity}?", "Which size of the {entity} should I choose?"),
            ("{entity}のサイズと仕様を教えてください。", "{entity}はどのサイズを選べばいいですか？"),
        ),
        answer=(
            "{entity}的尺寸、重量等完整参数都列在商品页的“规格”栏里，并附有尺码对照表。",
            "The full dimensions, weight and specifications of the {entity} are listed on its product page, together with a size chart.",
            "{entity}のサイズ、重さ、くわしい仕様は商品ページの「仕様」にのっており、サイズ表もあります。",
        ),
    ),
    _intent(
        "invoice",
        label=("发票", "Invoice", "領収書"),
        faq=(
            ("购买{entity}可以开发票吗？", "{entity}的发票怎么申请？"),
            ("Can I get an invoice for the {entity}?", "Where do I download the invoice for my {entity} purchase?"),
            ("{entity}の領収書は発行してもらえますか？", "{entity}を買ったときの領収書はどこからダウンロードできますか？"),
        ),
        answer=(
            "{entity}发货后{n}天内可在订单详情页申请电子发票，支持填写公司抬头。",
            "You can request an invoice for the {entity} on the order details page up to {n} days after shipping, including a company name.",
            "{entity}の領収書は、発送後{n}日以内に注文詳細ページから発行でき、宛名に会社名も入れられます。",
        ),
        numbers=range(30, 91, 30),
    ),
    _intent(
        "price_match",
        label=("价格保护", "Price match", "価格保証"),
        faq=(
            ("{entity}降价了可以补差价吗？", "{entity}有价格保护吗？"),
            (
                "Do you offer a price match on the {entity}?",
                "If the price of the {entity} drops after I buy it, do you pay the difference?",
            ),
            ("{entity}が値下がりしたら、差額はもらえますか？", "{entity}が他店より高い場合、値下げしてもらえますか？"),
        ),
        answer=(
            "{entity}享受{n}天价格保护，期间降价可申请退还差价。",
            "The {entity} has a {n}-day price guarantee: if our price drops in that time, we pay you the difference.",
            "{entity}は{n}日間の価格保証つきで、その間に値下がりした場合は差額をお返しします。",
        ),
        numbers=range(7, 31),
    ),
    _intent(
        "gift_wrapping",
        label=("礼品包装", "Gift wrapping", "ギフトラッピング"),
        faq=(
            ("{entity}可以提供礼品包装吗？", "送人的{entity}能包装成礼物吗？"),
            ("Do you offer gift wrapping for the {entity}?", "Can you gift wrap the {entity} as a present?"),
            ("{entity}はギフトラッピングできますか？", "プレゼント用に{entity}を包んでもらえますか？"),
        ),
        answer=(
            "{entity}可选礼品包装，费用为{price}，并可免费附上贺卡。",
            "Gift wrapping for the {entity} costs {price} and includes a free greeting card.",
            "{entity}のギフトラッピングは{price}で、メッセージカードを無料でおつけします。",
        ),
        numbers=range(2, 9),
    ),
    _intent(
        "stock_availability",
        label=("库存情况", "Stock availability", "在庫状況"),
        faq=(
            ("{entity}现在有货吗？", "{entity}缺货的话什么时候补货？"),
            ("Is the {entity} in stock?", "When will the {entity} be back in stock?"),
            ("{entity}の在庫はありますか？", "{entity}の再入荷の予定はありますか？"),
        ),
        answer=(
            "{entity}的库存在商品页实时显示，售罄后一般在{n}天内补货，可点击“到货通知”。",
            "Stock of the {entity} is shown live on its product page; when it sells out, it is usually restocked within {n} days and you can sign up for a restock alert.",
            "{entity}の在庫は商品ページでリアルタイムに表示されます。品切れの場合は通常{n}日以内に再入荷し、入荷お知らせも登録できます。",
        ),
        numbers=range(3, 22),
    ),
    _intent(
        "damaged_item",
        label=("商品破损", "Damaged item", "破損品の対応"),
        faq=(
            ("收到的{entity}有破损怎么办？", "{entity}开箱发现破损，怎么处理？"),
            ("Who do I contact about a damaged {entity}?", "My {entity} was broken when I unpacked it, how do you handle it?"),
            ("{entity}が破損していたらどうすればいいですか？", "{entity}が破損していた場合、どこに連絡すればいいですか？"),
        ),
        answer=(
            "如果{entity}到货时有破损，请在签收后{n}小时内拍照联系客服，我们会免费补发或退款。",
            "If the {entity} arrives damaged, send us photos within {n} hours of delivery and we will ship a free replacement or refund you.",
            "{entity}が破損して届いた場合は、受け取りから{n}時間以内に写真をお送りください。無料で交換品をお送りするか、返金いたします。",
        ),
        numbers=range(24, 73, 24),
    ),
    _intent(
        "exchange",
        label=("换货", "Exchange", "交換"),
        faq=(
            ("{entity}可以换其他颜色吗？", "{entity}怎么申请换货？"),
            ("Can I exchange the {entity} for a different color?", "How do I exchange the {entity} for another model?"),
            ("{entity}をちがう色に交換できますか？", "{entity}を別のモデルに交換する方法は？"),
        ),
        answer=(
            "{entity}签收后{n}天内可免费换货一次，往返运费由我们承担。",
            "You can exchange the {entity} once free of charge within {n} days of delivery; we cover the shipping both ways.",
            "{entity}はお届けから{n}日以内なら1回無料で交換でき、往復の送料は当店が負担します。",
        ),
        numbers=range(7, 31),
    ),
    _intent(
        "membership_points",
        label=("会员积分", "Membership points", "会員ポイント"),
        faq=(
            ("购买{entity}能获得多少会员积分？", "{entity}可以用会员积分抵扣吗？"),
            ("How many membership points do I earn when I buy the {entity}?", "Can I use my membership points to pay for the {entity}?"),
            ("{entity}を買うと会員ポイントは何ポイントつきますか？", "{entity}を会員ポイントで買えますか？"),
        ),
        answer=(
            "购买{entity}可获得{n}会员积分，确认收货后到账，下次购物可直接抵扣。",
            "Buying the {entity} earns you {n} membership points, credited after delivery and usable on your next order.",
            "{entity}のご購入で{n}ポイントがたまり、お届け後に付与されて次回のお買い物に使えます。",
        ),
        numbers=range(50, 501, 50),
    ),
    _intent(
        "coupons",
        label=("优惠券使用", "Using coupons", "クーポンの使い方"),
        faq=(
            ("{entity}可以使用优惠券吗？", "怎么在购买{entity}时用优惠码？"),
            ("Can I use a coupon on the {entity}?", "How do I apply a promo code when buying the {entity}?"),
            ("{entity}にクーポンは使えますか？", "{entity}を買うときにクーポンコードを入れるには？"),
        ),
        answer=(
            "{entity}可以使用店铺优惠券，结算页输入优惠码即可，最高减{price}。",
            "Coupons work on the {entity}: enter the code at checkout to save up to {price}.",
            "{entity}にはクーポンが使えます。お会計画面でコードを入力すると最大{price}割引になります。",
        ),
        numbers=range(5, 31, 5),
    ),
    _intent(
        "international_shipping",
        label=("国际配送", "International shipping", "海外発送"),
        faq=(
            ("{entity}可以寄到国外吗？", "{entity}支持国际配送吗？"),
            ("Do you ship the {entity} internationally?", "Can I order the {entity} from abroad?"),
            ("{entity}は海外発送していますか？", "{entity}を日本以外の国に送ってもらえますか？"),
        ),
        answer=(
            "{entity}可寄往海外，国际配送一般需要{n}天，进口关税由收件人承担。",
            "We ship the {entity} abroad; international delivery takes about {n} days and any import duties are paid by the recipient.",
            "{entity}は海外へも発送でき、到着まで約{n}日かかります。関税はお受け取りの方のご負担です。",
        ),
        numbers=range(7, 22),
    ),
    _intent(
        "installation",
        label=("安装服务", "Installation service", "設置サービス"),
        faq=(
            ("{entity}提供上门安装服务吗？", "买了{entity}谁来负责安装？"),
            ("Do you offer installation for the {entity}?", "Who handles installation of the {entity}?"),
            ("{entity}の設置サービスはありますか？", "{entity}はだれが設置してくれますか？"),
        ),
        answer=(
            "我们为{entity}提供上门安装，费用为{price}，可在下单时预约时间。",
            "Professional installation of the {entity} is available for {price}; choose a time slot when you order.",
            "{entity}はご自宅での設置サービスを{price}で承っており、ご注文時に日時を選べます。",
        ),
        numbers=range(20, 81, 5),
    ),
    _intent(
        "refund_timing",
        label=("退款到账时间", "Refund timing", "返金までの期間"),
        faq=(
            ("{entity}的退款要多久才能收到？", "{entity}的退款什么时候到账？"),
            ("What is the refund processing time for the {entity}?", "When will the refund for the {entity} reach my account?"),
            ("{entity}の返金はいつカードや口座に戻りますか？", "{entity}の返金はいつ口座に入りますか？"),
        ),
        answer=(
            "我们收到退回的{entity}后，退款会在{n}个工作日内原路退回。",
            "Once we receive the returned {entity}, the refund goes back to your original payment method within {n} business days.",
            "返品された{entity}が届いてから{n}営業日以内に、元のお支払い方法へ返金します。",
        ),
        numbers=range(3, 11),
    ),
    _intent(
        "change_address",
        label=("修改收货地址", "Change delivery address", "お届け先の変更"),
        faq=(
            ("{entity}下单后可以修改收货地址吗？", "怎么更改{entity}订单的地址？"),
            ("Can I change the address for my {entity} order?", "How do I update the address on the {entity} I ordered?"),
            ("{entity}の注文後にお届け先の住所を変更できますか？", "{entity}の注文の住所を変えるには？"),
        ),
        answer=(
            "{entity}发货前可在订单页修改收货地址；已发货的订单请在{n}小时内联系客服。",
            "You can edit the address for the {entity} on your order page until it ships; after that, contact us within {n} hours.",
            "{entity}は発送前なら注文ページでお届け先を変更できます。発送後は{n}時間以内にご連絡ください。",
        ),
        numbers=range(2, 13),
    ),
    _intent(
        "user_manual",
        label=("使用说明书", "User manual", "取扱説明書"),
        faq=(
            ("{entity}的使用说明书在哪里下载？", "{entity}有中文说明书吗？"),
            ("Where can I download the user manual for the {entity}?", "Is there a user manual for the {entity}?"),
            ("{entity}のマニュアルはどこでダウンロードできますか？", "{entity}の取扱説明書はありますか？"),
        ),
        answer=(
            "{entity}的电子版说明书可在商品页的“下载”栏获取，共{n}页，附有图文操作步骤。",
            "The {entity} manual is available as a PDF on the product page's Downloads tab, with {n} pages of step-by-step instructions.",
            "{entity}の取扱説明書は商品ページの「ダウンロード」からPDFで入手でき、{n}ページの図解つきです。",
        ),
        numbers=range(12, 61, 4),
    ),
)

MEDICAL_ENTITIES = (
    _entity("mri_scan", "核磁共振检查", "MRI scan", "MRI検査"),
    _entity("ct_scan", "CT检查", "CT scan", "CT検査"),
    _entity("x_ray", "X光检查", "X-ray", "レントゲン検査"),
    _entity("ultrasound", "B超检查", "ultrasound scan", "エコー検査"),
    _entity("blood_test", "血液检查", "blood test", "血液検査"),
    _entity("urine_test", "尿常规检查", "urine test", "尿検査"),
    _entity("dental_cleaning", "洗牙", "dental cleaning", "歯のクリーニング"),
    _entity("tooth_extraction", "拔牙", "tooth extraction", "抜歯"),
    _entity("root_canal", "根管治疗", "root canal treatment", "根管治療"),
    _entity("orthodontic_consultation", "牙齿矫正咨询", "orthodontic consultation", "歯列矯正の相談"),
    _entity("physiotherapy", "康复理疗", "physiotherapy", "リハビリ"),
    _entity("flu_vaccination", "流感疫苗接种", "flu vaccination", "インフルエンザの予防接種"),
    _entity("hpv_vaccination", "HPV疫苗接种", "HPV vaccination", "HPVワクチンの接種"),
    _entity("hepatitis_b_vaccination", "乙肝疫苗接种", "hepatitis B vaccination", "B型肝炎ワクチンの接種"),
    _entity("health_checkup", "年度体检", "annual health checkup", "健康診断"),
    _entity("eye_exam", "眼科检查", "eye exam", "目の検査"),
    _entity("hearing_test", "听力检查", "hearing test", "聴力検査"),
    _entity("allergy_test", "过敏原检测", "allergy test", "アレルギー検査"),
    _entity("dermatology_consultation", "皮肤科门诊", "dermatology consultation", "皮膚科の診察"),
    _entity("cardiology_consultation", "心内科门诊", "cardiology consultation", "循環器内科の診察"),
    _entity("ecg", "心电图检查", "ECG", "心電図検査"),
    _entity("colonoscopy", "肠镜检查", "colonoscopy", "大腸カメラ"),
    _entity("gastroscopy", "胃镜检查", "gastroscopy", "胃カメラ"),
    _entity("mammogram", "乳腺钼靶检查", "mammogram", "マンモグラフィ"),
    _entity("bone_density_scan", "骨密度检查", "bone density scan", "骨密度検査"),
    _entity("prenatal_checkup", "产检", "prenatal checkup", "妊婦健診"),
    _entity("child_checkup", "儿童体检", "child health checkup", "子どもの健診"),
    _entity("sleep_study", "睡眠监测", "sleep study", "睡眠検査"),
    _entity("diabetes_screening", "糖尿病筛查", "diabetes screening", "糖尿病の検査"),
    _entity("cholesterol_test", "血脂检查", "cholesterol test", "コレステロール検査"),
    _entity("thyroid_test", "甲状腺功能检查", "thyroid function test", "甲状腺の検査"),
    _entity("cervical_screening", "宫颈癌筛查", "cervical cancer screening", "子宮頸がん検診"),
    _entity("prostate_screening", "前列腺检查", "prostate screening", "前立腺の検査"),
    _entity("acupuncture", "针灸治疗", "acupuncture", "はり治療"),
    _entity("massage_therapy", "推拿按摩", "massage therapy", "マッサージ治療"),
    _entity("counseling_session", "心理咨询", "counseling session", "カウンセリング"),
    _entity("nutrition_consultation", "营养咨询", "nutrition consultation", "栄養相談"),
    _entity("hearing_aid_fitting", "助听器验配", "hearing aid fitting", "補聴器の調整"),
    _entity("cataract_surgery", "白内障手术", "cataract surgery", "白内障の手術"),
    _entity("day_surgery", "日间手术", "day surgery", "日帰り手術"),
    _entity("lasik", "近视激光手术", "LASIK eye surgery", "レーシック"),
    _entity("pcr_test", "核酸检测", "PCR test", "PCR検査"),
)

MEDICAL_INTENTS = (
    _intent(
        "book_appointment",
        label=("预约挂号", "Book an appointment", "予約の取り方"),
        faq=(
            ("怎么预约{entity}？", "{entity}需要提前预约吗？"),
            ("How do I book the {entity}?", "Is a booking needed for the {entity}?"),
            ("{entity}の予約はどうやって取りますか？", "{entity}は事前に予約が必要ですか？"),
        ),
        answer=(
            "{entity}可通过官网、App或电话预约，建议提前{n}天预约。",
            "You can book the {entity} through our website, app or by phone; we recommend booking {n} days ahead.",
            "{entity}はウェブサイト、アプリ、お電話で予約でき、{n}日前までのご予約をおすすめします。",
        ),
        numbers=range(2, 15),
    ),
    _intent(
        "reschedule_or_cancel",
        label=("改约或取消预约", "Reschedule or cancel", "予約の変更・キャンセル"),
        faq=(
            ("{entity}可以改期或取消吗？", "怎么给{entity}改期或者取消？"),
            ("Can I reschedule or cancel my {entity}?", "How do I cancel or reschedule the {entity}?"),
            ("{entity}の日にちの変更やキャンセルはできますか？", "{entity}をキャンセルまたは日程変更するには？"),
        ),
        answer=(
            "如需改期或取消{entity}，请至少提前{n}小时通过App或电话操作，不收取费用。",
            "Please reschedule or cancel the {entity} at least {n} hours in advance via the app or by phone; there is no charge.",
            "{entity}の変更・キャンセルは{n}時間前までにアプリかお電話でご連絡ください。料金はかかりません。",
        ),
        numbers=range(24, 49, 24),
    ),
    _intent(
        "opening_hours",
        label=("开放时间", "Opening hours", "受付時間"),
        faq=(
            ("{entity}的开放时间是几点到几点？", "{entity}周末开放吗？"),
            ("What are the opening hours for the {entity}?", "Is the {entity} open on weekends?"),
            ("{entity}の受付時間は何時から何時までですか？", "{entity}は土日も受付していますか？"),
        ),
        answer=(
            "{entity}的开放时间为周一至周六8:00至{n}:00，周日休息。",
            "The {entity} is offered Monday to Saturday from 8:00 to {n}:00 and is closed on Sundays.",
            "{entity}は月曜から土曜の8時から{n}時まで受けられます。日曜はお休みです。",
        ),
        numbers=range(17, 21),
    ),
    _intent(
        "insurance_coverage",
        label=("医保报销", "Insurance coverage", "保険の適用"),
        faq=(
            ("{entity}可以用医保报销吗？", "{entity}在医保覆盖范围内吗？"),
            ("Is the {entity} covered by health insurance?", "Is the {entity} reimbursed by my insurance plan?"),
            ("{entity}は健康保険が使えますか？", "{entity}は保険適用の対象ですか？"),
        ),
        answer=(
            "{entity}属于医保报销范围，报销比例约为{n}%，具体以您的参保类型为准。",
            "The {entity} is covered by most health plans, which typically reimburse about {n}% of the cost.",
            "{entity}は多くの場合保険適用となり、費用の約{n}%が保険でカバーされます。",
        ),
        numbers=range(50, 91, 10),
    ),
    _intent(
        "cost",
        label=("费用", "Cost and fees", "費用"),
        faq=(
            ("{entity}要多少钱？", "{entity}的收费标准是什么？"),
            ("How much does the {entity} cost?", "What are the fees for the {entity}?"),
            ("{entity}の費用はいくらですか？", "{entity}を受けるといくらかかりますか？"),
        ),
        answer=(
            "{entity}的价格约为{price}，医保报销后实际支付会更少。",
            "The {entity} costs about {price} before insurance.",
            "{entity}の保険適用前の料金はおよそ{price}です。",
        ),
        numbers=range(30, 401, 10),
    ),
    _intent(
        "test_results",
        label=("检查结果", "Test results", "検査結果"),
        faq=(
            ("{entity}的检查结果多久能出来？", "在哪里查看{entity}的检查结果？"),
            ("When will my {entity} results be ready?", "Where can I see the results of my {entity}?"),
            ("{entity}の検査結果はいつわかりますか？", "{entity}の検査結果はどうやって確認できますか？"),
        ),
        answer=(
            "{entity}的结果通常在{n}个工作日内出具，可在App的“我的报告”中查看。",
            "Results of the {entity} are usually ready within {n} business days and appear in the app under My Reports.",
            "{entity}の結果はふつう{n}営業日以内に出て、アプリの「検査結果」で見られます。",
        ),
        numbers=range(1, 8),
    ),
    _intent(
        "preparation",
        label=("检查前准备", "Preparation beforehand", "検査前の準備"),
        faq=(
            ("做{entity}之前需要空腹吗？", "{entity}前多久不能吃东西？"),
            ("Do I need to fast before the {entity}?", "How long before the {entity} should I stop eating?"),
            ("{entity}の前は食事をぬく必要がありますか？", "{entity}の何時間前から食べてはいけませんか？"),
        ),
        answer=(
            "做{entity}前请空腹{n}小时，可少量饮水，并穿着宽松的衣服。",
            "Before the {entity}, please do not eat for {n} hours; small sips of water are fine, and wear loose clothing.",
            "{entity}の前は{n}時間なにも食べないでください。少しのお水は大丈夫です。ゆったりした服でお越しください。",
        ),
        numbers=range(4, 13),
    ),
    _intent(
        "waiting_time",
        label=("等候时间", "Waiting time", "待ち時間"),
        faq=(
            ("{entity}现在要排队等多久？", "{entity}当天排队要等多长时间？"),
            ("How long is the waiting time for the {entity}?", "How long is the wait at the clinic before the {entity}?"),
            ("{entity}の待ち時間はどのくらいですか？", "{entity}の当日は病院でどれくらい待ちますか？"),
        ),
        answer=(
            "{entity}预约患者到院后平均等候约{n}分钟，建议提前15分钟到达。",
            "With an appointment, the average wait for the {entity} is about {n} minutes; please arrive 15 minutes early.",
            "ご予約の方の{entity}の平均待ち時間は約{n}分です。15分前にお越しください。",
        ),
        numbers=range(10, 61, 5),
    ),
    _intent(
        "pain_and_discomfort",
        label=("疼痛与不适", "Pain and discomfort", "痛みについて"),
        faq=(
            ("做{entity}会痛吗？", "{entity}过程中会不舒服吗？"),
            ("Does the {entity} hurt?", "Is the {entity} painful or uncomfortable?"),
            ("{entity}は痛いですか？", "{entity}の最中に痛みはありますか？"),
        ),
        answer=(
            "{entity}一般只有轻微不适，如有需要可使用局部麻醉，过程约{n}分钟。",
            "Most people feel only mild discomfort during the {entity}; numbing is available if needed, and it takes about {n} minutes.",
            "{entity}は軽い違和感がある程度で、必要なら麻酔も使えます。時間は約{n}分です。",
        ),
        numbers=range(10, 61, 5),
    ),
    _intent(
        "parking",
        label=("停车", "Parking", "駐車場"),
        faq=(
            ("来做{entity}可以在哪里停车？", "医院有停车场给{entity}的患者用吗？"),
            ("Where can I park when I come for the {entity}?", "Is there patient parking for the {entity}?"),
            ("{entity}で来院するとき、車はどこに駐車できますか？", "{entity}の患者さん用の駐車場はありますか？"),
        ),
        answer=(
            "医院地下停车场可供{entity}患者使用，凭就诊凭证可免费停车{n}小时。",
            "Patients coming for the {entity} can use the underground car park, with {n} hours free when you validate your ticket at reception.",
            "{entity}でお越しの方は地下駐車場をご利用いただけ、受付で手続きすると{n}時間まで無料です。",
        ),
        numbers=range(1, 5),
    ),
    _intent(
        "medical_records",
        label=("病历复印", "Medical records request", "診療記録の開示"),
        faq=(
            ("怎么申请复印{entity}的病历资料？", "{entity}的病历可以复印后转给其他医院吗？"),
            ("How do I request copies of my {entity} medical records?", "Can copies of my {entity} records be sent to another hospital?"),
            ("{entity}の診療記録のコピーはどうやって申し込みますか？", "{entity}の記録をほかの病院に送ってもらえますか？"),
        ),
        answer=(
            "{entity}的病历复印可在病案室或App申请，约{n}个工作日可领取。",
            "You can request copies of your {entity} records at the medical records office or in the app; they are ready in about {n} business days.",
            "{entity}の診療記録は、窓口またはアプリで申し込むと約{n}営業日でお渡しできます。",
        ),
        numbers=range(2, 8),
    ),
    _intent(
        "online_consultation",
        label=("在线问诊", "Online consultation", "オンライン診療"),
        faq=(
            ("{entity}可以在线问诊吗？", "{entity}能在线视频问诊吗？"),
            ("Is an online consultation possible for the {entity}?", "Is an online video consultation available for the {entity}?"),
            ("{entity}についてオンライン診療はできますか？", "{entity}のオンライン診療はビデオ通話でできますか？"),
        ),
        answer=(
            "{entity}相关问题可在App预约视频问诊，每次约{n}分钟。",
            "You can book a video consultation about the {entity} in the app; each session lasts about {n} minutes.",
            "{entity}についてはアプリでビデオ診療を予約でき、1回約{n}分です。",
        ),
        numbers=range(10, 31, 5),
    ),
    _intent(
        "referral",
        label=("转诊单", "Referral", "紹介状"),
        faq=(
            ("做{entity}需要医生开的转诊单吗？", "没有转诊单可以直接做{entity}吗？"),
            ("Do I need a doctor's referral for the {entity}?", "Without a referral, can I still have the {entity}?"),
            ("{entity}を受けるのに紹介状は必要ですか？", "紹介状なしで{entity}を受けられますか？"),
        ),
        answer=(
            "{entity}可以直接预约；如有转诊单，可免收{price}的初诊费。",
            "You can book the {entity} directly; with a referral letter you skip the {price} first-visit fee.",
            "{entity}は紹介状なしでも受けられますが、紹介状があれば初診料{price}が不要になります。",
        ),
        numbers=range(20, 51, 5),
    ),
    _intent(
        "emergency",
        label=("紧急情况", "Emergencies", "緊急時の対応"),
        faq=(
            ("做完{entity}后出现紧急情况该怎么办？", "{entity}后半夜出现紧急情况可以联系谁？"),
            ("What should I do in an emergency after my {entity}?", "Who do I call in an emergency at night after the {entity}?"),
            ("{entity}のあとに緊急事態になったらどうすればいいですか？", "{entity}のあと、夜間に緊急のときはどこに連絡すればいいですか？"),
        ),
        answer=(
            "{entity}后如有大出血、高烧或呼吸困难，请立即前往急诊或拨打120；我们的护士热线24小时开放。",
            "If you have heavy bleeding, a high fever or trouble breathing after the {entity}, go to the emergency room or call 911 right away; our nurse line is open 24 hours.",
            "{entity}のあとに大量の出血、高熱、息苦しさがあれば、すぐに救急外来に行くか119番に電話してください。看護師の相談窓口は24時間対応です。",
        ),
    ),
    _intent(
        "payment_options",
        label=("付款方式", "Payment options", "支払い方法"),
        faq=(
            ("{entity}的费用可以用什么方式支付？", "{entity}可以刷卡支付吗？"),
            ("What payment options are available for the {entity}?", "Can I pay for the {entity} by card?"),
            ("{entity}の支払いにはどんな方法がありますか？", "{entity}はカードで支払えますか？"),
        ),
        answer=(
            "{entity}支持现金、银行卡、微信和支付宝，费用较高时可分{n}期付款。",
            "For the {entity} we accept cash, cards and mobile wallets, and larger bills can be split into {n} monthly payments.",
            "{entity}は現金、カード、QRコード決済でお支払いいただけ、高額の場合は{n}回の分割も可能です。",
        ),
        numbers=range(3, 13, 3),
    ),
    _intent(
        "recovery",
        label=("术后恢复", "Recovery afterwards", "終わったあとの過ごし方"),
        faq=(
            ("{entity}后需要休息多久才能恢复？", "做完{entity}后要恢复几天才能上班？"),
            ("How long does recovery take after the {entity}?", "How many days of recovery do I need after the {entity} before working?"),
            ("{entity}のあと、回復までどれくらいかかりますか？", "{entity}が終わったらすぐ仕事にもどれますか？"),
        ),
        answer=(
            "大多数人在{entity}后{n}天内即可恢复日常活动，当天请避免剧烈运动和开车。",
            "Most people return to normal activities within {n} days of the {entity}; avoid driving and strenuous exercise on the day itself.",
            "{entity}のあとは、ほとんどの方が{n}日以内にふだんの生活にもどれます。当日は運転や激しい運動はひかえてください。",
        ),
        numbers=range(1, 8),
    ),
    _intent(
        "what_to_bring",
        label=("携带物品", "What to bring", "持ち物"),
        faq=(
            ("做{entity}需要带什么证件？", "去做{entity}时要带哪些东西？"),
            ("What documents should I bring to my {entity}?", "What do I need to bring on the day of the {entity}?"),
            ("{entity}の日に持っていくものは何ですか？", "{entity}にはどんな書類を持っていけばいいですか？"),
        ),
        answer=(
            "做{entity}请携带身份证、医保卡、预约短信以及近{n}个月内的相关检查报告。",
            "For the {entity}, bring your ID, insurance card, booking confirmation and any related reports from the last {n} months.",
            "{entity}には、保険証、身分証、予約確認メール、そして{n}か月以内の関連する検査結果をお持ちください。",
        ),
        numbers=range(3, 13, 3),
    ),
    _intent(
        "location",
        label=("科室位置", "Location", "場所・アクセス"),
        faq=(
            ("{entity}在医院的哪个位置？", "{entity}的位置在几楼？"),
            ("Where is the {entity} located in the hospital?", "Which floor of the hospital is the {entity} located on?"),
            ("{entity}は病院のどこにありますか？", "{entity}の場所は何階ですか？"),
        ),
        answer=(
            "{entity}位于门诊楼{n}楼，从正门进入后乘电梯即可到达。",
            "The {entity} is on floor {n} of the outpatient building; take the elevators from the main entrance.",
            "{entity}は外来棟の{n}階にあります。正面玄関からエレベーターでお上がりください。",
        ),
        numbers=range(1, 9),
    ),
    _intent(
        "interpreter",
        label=("翻译服务", "Interpreter service", "通訳サービス"),
        faq=(
            ("做{entity}时有翻译服务吗？", "{entity}可以安排外语翻译吗？"),
            ("Is an interpreter available for the {entity}?", "Can you arrange a translator for my {entity}?"),
            ("{entity}のときに通訳をお願いできますか？", "{entity}で外国語の通訳サービスはありますか？"),
        ),
        answer=(
            "{entity}可免费预约英语、日语等{n}种语言的医疗翻译，请至少提前一天申请。",
            "Free medical interpreters in {n} languages can be booked for the {entity}; please request one at least a day ahead.",
            "{entity}では{n}か国語の医療通訳を無料で手配できます。前日までにお申し込みください。",
        ),
        numbers=range(3, 13),
    ),
    _intent(
        "age_requirements",
        label=("年龄要求", "Age requirements", "年齢の条件"),
        faq=(
            ("{entity}有年龄限制吗？", "儿童可以做{entity}吗？"),
            ("Is there an age limit for the {entity}?", "What ages is the {entity} suitable for?"),
            ("{entity}に年齢制限はありますか？", "子どもの{entity}に年齢の条件はありますか？"),
        ),
        answer=(
            "{entity}一般适用于{n}岁以上人群，未成年人需由监护人陪同。",
            "The {entity} is generally offered from age {n}, and minors must come with a parent or guardian.",
            "{entity}は原則{n}さいから受けられ、未成年の方は保護者の同伴が必要です。",
        ),
        numbers=range(3, 19),
    ),
    _intent(
        "companion",
        label=("陪同人员", "Bringing a companion", "付き添い"),
        faq=(
            ("做{entity}时家属可以陪同吗？", "{entity}可以有人陪着一起进去吗？"),
            ("Can a family member accompany me during the {entity}?", "Can a companion stay with me during the {entity}?"),
            ("{entity}のとき家族が付き添ってもいいですか？", "{entity}に付き添いの人もいっしょに入れますか？"),
        ),
        answer=(
            "做{entity}时可有1名家属陪同，{n}岁以下患者必须有监护人陪同。",
            "One companion may join you for the {entity}, and patients under {n} must be accompanied by a guardian.",
            "{entity}には付き添いの方1名まで同伴できます。{n}さい未満の方は保護者の付き添いが必要です。",
        ),
        numbers=range(12, 19),
    ),
)

EDUCATION_ENTITIES = (
    _entity("python", "Python编程", "Python programming", "Pythonプログラミング"),
    _entity("calculus", "微积分", "calculus", "微分積分"),
    _entity("ielts", "雅思备考", "IELTS preparation", "IELTS対策"),
    _entity("piano_beginners", "钢琴入门", "piano for beginners", "初心者向けピアノ"),
    _entity("data_science", "数据科学", "data science", "データサイエンス"),
    _entity("web_development", "网页开发", "web development", "ウェブ開発"),
    _entity("machine_learning", "机器学习", "machine learning", "機械学習"),
    _entity("beginner_japanese", "日语入门", "beginner Japanese", "初級日本語"),
    _entity("business_english", "商务英语", "business English", "ビジネス英語"),
    _entity("spanish", "西班牙语", "Spanish", "スペイン語"),
    _entity("french", "法语", "French", "フランス語"),
    _entity("korean", "韩语", "Korean", "韓国語"),
    _entity("mandarin", "汉语口语", "spoken Mandarin", "中国語会話"),
    _entity("accounting", "会计基础", "accounting basics", "簿記の基礎"),
    _entity("digital_marketing", "数字营销", "digital marketing", "デジタルマーケティング"),
    _entity("graphic_design", "平面设计", "graphic design", "グラフィックデザイン"),
    _entity("photography", "摄影", "photography", "カメラ・写真"),
    _entity("video_editing", "视频剪辑", "video editing", "動画編集"),
    _entity("guitar", "吉他", "guitar", "ギター"),
    _entity("sketching", "素描", "sketching", "デッサン"),
    _entity("watercolor", "水彩画", "watercolor painting", "水彩画"),
    _entity("yoga", "瑜伽", "yoga", "ヨガ"),
    _entity("cooking", "家常烹饪", "home cooking", "家庭料理"),
    _entity("public_speaking", "演讲技巧", "public speaking", "スピーチ"),
    _entity("project_management", "项目管理", "project management", "プロジェクトマネジメント"),
    _entity("excel", "Excel办公技能", "Excel skills", "エクセル"),
    _entity("statistics", "统计学", "statistics", "統計学"),
    _entity("linear_algebra", "线性代数", "linear algebra", "線形代数"),
    _entity("physics", "高中物理", "high school physics", "高校物理"),
    _entity("chemistry", "高中化学", "high school chemistry", "高校化学"),
    _entity("toefl", "托福备考", "TOEFL preparation", "TOEFL対策"),
    _entity("sat_math", "SAT数学", "SAT math", "SAT数学"),
    _entity("creative_writing", "创意写作", "creative writing", "クリエイティブライティング"),
    _entity("cybersecurity", "网络安全", "cybersecurity", "サイバーセキュリティ"),
    _entity("cloud_computing", "云计算", "cloud computing", "クラウドコンピューティング"),
    _entity("ui_ux_design", "UI/UX设计", "UI/UX design", "UI/UXデザイン"),
    _entity("mobile_apps", "移动应用开发", "mobile app development", "スマホアプリ開発"),
    _entity("chess", "国际象棋", "chess", "チェス"),
    _entity("kids_robotics", "少儿机器人编程", "robotics for kids", "子ども向けロボットプログラミング"),
    _entity("calligraphy", "书法", "calligraphy", "書道"),
    _entity("violin", "小提琴", "violin", "バイオリン"),
)

EDUCATION_INTENTS = (
    _intent(
        "enrollment",
        label=("报名方式", "Enrollment", "申し込み方法"),
        faq=(
            ("怎么报名{entity}课程？", "{entity}课程的报名什么时候截止？"),
            ("How does enrollment in the {entity} course work?", "What is the enrollment deadline for the {entity} course?"),
            ("{entity}講座の申し込み方法を教えてください。", "{entity}講座の申し込みの締め切りはいつですか？"),
        ),
        answer=(
            "{entity}课程可在官网在线报名，开课前{n}天截止报名。",
            "You can enroll in the {entity} course online; registration closes {n} days before the first class.",
            "{entity}講座はウェブサイトから申し込めます。締め切りは開講の{n}日前です。",
        ),
        numbers=range(3, 15),
    ),
    _intent(
        "tuition_fees",
        label=("学费", "Tuition fees", "受講料"),
        faq=(
            ("{entity}课程的学费是多少？", "{entity}课程的学费包含哪些内容？"),
            ("How much is the tuition for the {entity} course?", "What does the {entity} course tuition include?"),
            ("{entity}講座の受講料はいくらですか？", "{entity}講座の受講料はいつ払いますか？"),
        ),
        answer=(
            "{entity}课程的学费为{price}，包含全部课时和在线练习。",
            "Tuition for the {entity} course is {price}, covering all lessons and online practice.",
            "{entity}講座の受講料は{price}で、すべてのレッスンとオンライン練習がふくまれます。",
        ),
        numbers=range(100, 901, 50),
    ),
    _intent(
        "refund_policy",
        label=("退费政策", "Refund policy", "返金について"),
        faq=(
            ("{entity}课程可以退费吗？", "{entity}中途退课能退多少钱？"),
            ("Can I get a refund for the {entity} course?", "How much is refunded if I drop out of the {entity} course?"),
            ("{entity}講座は返金してもらえますか？", "{entity}講座を途中でやめたら、いくら返金されますか？"),
        ),
        answer=(
            "{entity}课程开课前可全额退款，开课后{n}天内按未上课时退还费用。",
            "The {entity} course is fully refundable before it starts; within {n} days after the start, unused lessons are refunded.",
            "{entity}講座は開講前なら全額返金、開講後{n}日以内なら未受講分を返金します。",
        ),
        numbers=range(7, 31),
    ),
    _intent(
        "class_schedule",
        label=("上课时间", "Class schedule", "授業の時間割"),
        faq=(
            ("{entity}课程的上课时间是怎么安排的？", "{entity}每周哪几天上课，几点上课？"),
            ("What is the class schedule for the {entity} course?", "On which days and times are the {entity} classes scheduled?"),
            ("{entity}講座の授業の時間割を教えてください。", "{entity}の授業は何曜日の何時からですか？"),
        ),
        answer=(
            "{entity}课程每周上课{n}次，提供工作日晚间班和周末班。",
            "The {entity} course meets {n} times a week, with evening and weekend groups available.",
            "{entity}講座は週{n}回で、平日夜のクラスと週末のクラスがあります。",
        ),
        numbers=range(1, 4),
    ),
    _intent(
        "certificate",
        label=("结业证书", "Certificate", "修了証"),
        faq=(
            ("学完{entity}课程有证书吗？", "{entity}课程的结业证书有什么用？"),
            ("Do I get a certificate after completing the {entity} course?", "Is the {entity} certificate recognized by employers?"),
            ("{entity}講座を修了すると修了証はもらえますか？", "{entity}の修了証は公的な資格になりますか？"),
        ),
        answer=(
            "完成{entity}课程且出勤率达到{n}%的学员可获得电子版结业证书。",
            "Students who finish the {entity} course with at least {n}% attendance receive a digital certificate.",
            "{entity}講座を出席率{n}%以上で修了した方には、デジタルの修了証を発行します。",
        ),
        numbers=range(70, 91, 5),
    ),
    _intent(
        "prerequisites",
        label=("先修要求", "Prerequisites", "受講の前提条件"),
        faq=(
            ("学{entity}课程需要什么基础？", "{entity}课程对基础有要求吗？"),
            ("What prior knowledge does the {entity} course require?", "Do I need prior experience to take the {entity} course?"),
            ("{entity}講座を受けるのに必要な知識はありますか？", "{entity}講座は知識ゼロの初心者でも受けられますか？"),
        ),
        answer=(
            "{entity}课程不要求专业背景，建议每周预留{n}小时课后练习。",
            "The {entity} course has no formal prerequisites; just plan about {n} hours of practice per week.",
            "{entity}講座に特別な前提条件はありません。週に{n}時間ほど練習時間をとってください。",
        ),
        numbers=range(2, 7),
    ),
    _intent(
        "course_format",
        label=("线上或线下", "Online or in person", "オンライン・対面"),
        faq=(
            ("{entity}课程是线上还是线下上课？", "{entity}课程有线上网课吗？"),
            ("Is the {entity} course online or in person?", "Does the {entity} course offer online classes?"),
            ("{entity}講座はオンラインですか、対面ですか？", "{entity}はオンラインで受けられますか？"),
        ),
        answer=(
            "{entity}课程提供线上直播班和线下小班，两种形式内容相同，线下校区共有{n}个。",
            "The {entity} course runs both as live online classes and in person at our {n} campuses, with the same content.",
            "{entity}講座はオンラインのライブ授業と、{n}か所の教室での対面授業があり、内容は同じです。",
        ),
        numbers=range(2, 9),
    ),
    _intent(
        "instructor",
        label=("授课老师", "Instructor", "講師について"),
        faq=(
            ("{entity}课程由哪位老师授课？", "{entity}老师有什么资历？"),
            ("Who is the instructor for the {entity} course?", "What qualifications does the {entity} instructor have?"),
            ("{entity}講座の講師はどなたですか？", "{entity}の講師はどんな人ですか？"),
        ),
        answer=(
            "{entity}课程由具有{n}年以上教学经验的专业讲师授课。",
            "The {entity} course is taught by a certified instructor with over {n} years of teaching experience.",
            "{entity}講座は、{n}年以上の指導経験をもつ講師が担当します。",
        ),
        numbers=range(3, 16),
    ),
    _intent(
        "materials",
        label=("教材", "Course materials", "教材"),
        faq=(
            ("{entity}课程用什么教材？", "{entity}的教材需要自己购买吗？"),
            ("What materials are used in the {entity} course?", "Do I have to buy my own textbooks for the {entity} course?"),
            ("{entity}講座ではどんな教材を使いますか？", "{entity}の教材は自分で買う必要がありますか？"),
        ),
        answer=(
            "{entity}课程的讲义和练习册免费提供，课件可在学习平台下载，另推荐{n}本参考书。",
            "Handouts and workbooks for the {entity} course are free, slides can be downloaded from the learning portal, and we recommend {n} optional reference books.",
            "{entity}講座のプリントと問題集は無料で、スライドは学習サイトからダウンロードできます。参考書も{n}冊紹介しています。",
        ),
        numbers=range(1, 5),
    ),
    _intent(
        "exam_dates",
        label=("考试日期", "Exam dates", "試験日"),
        faq=(
            ("{entity}课程的考试安排在什么时候？", "{entity}的期末考试是哪天？"),
            ("When are the exams for the {entity} course?", "What is the date of the {entity} final exam?"),
            ("{entity}講座の試験はいつですか？", "{entity}の期末試験は何日ですか？"),
        ),
        answer=(
            "{entity}课程的期末考试安排在第{n}周，错过者可在两周内申请补考。",
            "The {entity} final exam takes place in week {n}; if you miss it, you can request a make-up within two weeks.",
            "{entity}講座の最終試験は第{n}週に行います。受けられなかった場合は2週間以内に追試を申し込めます。",
        ),
        numbers=range(8, 17),
    ),
    _intent(
        "scholarships",
        label=("奖学金", "Scholarships", "奨学金"),
        faq=(
            ("{entity}课程的奖学金有哪些？", "怎么申请{entity}课程的奖学金？"),
            ("Are scholarships available for the {entity} course?", "How are {entity} scholarships awarded?"),
            ("{entity}講座に奨学金はありますか？", "{entity}講座の奨学金にはどうやって応募しますか？"),
        ),
        answer=(
            "{entity}课程每期提供奖学金，最高可减免{n}%学费，需在开课前提交申请。",
            "Each {entity} intake offers scholarships covering up to {n}% of tuition; apply before the course starts.",
            "{entity}講座では毎期、受講料の最大{n}%を免除する奨学金があり、開講前に申し込めます。",
        ),
        numbers=range(20, 101, 10),
    ),
    _intent(
        "course_transfer",
        label=("转班", "Transfer to another course", "講座の変更"),
        faq=(
            ("学了{entity}课程后可以转到其他课程吗？", "{entity}可以转课或转班吗？"),
            ("Can I transfer from the {entity} course to a different course?", "Is it possible to switch from {entity} to another course?"),
            ("{entity}講座からほかの講座に移れますか？", "{entity}から別の講座に変更できますか？"),
        ),
        answer=(
            "{entity}开课后{n}天内可免费转班或转课一次，已缴学费全额转入新课程。",
            "Within {n} days of the start you can transfer out of the {entity} course once for free, with your tuition moved to the new course.",
            "{entity}講座は開講後{n}日以内なら1回無料で講座の変更ができ、受講料はそのまま新しい講座にうつります。",
        ),
        numbers=range(7, 22),
    ),
    _intent(
        "attendance_policy",
        label=("考勤要求", "Attendance policy", "出席のルール"),
        faq=(
            ("{entity}课程对出勤有什么要求？", "{entity}缺勤太多会怎么样？"),
            ("What is the attendance policy for the {entity} course?", "What happens if I'm absent from too many {entity} classes?"),
            ("{entity}講座の出席や欠席のルールを教えてください。", "{entity}の授業を何回も欠席するとどうなりますか？"),
        ),
        answer=(
            "{entity}课程要求出勤率不低于{n}%，病假需提供证明。",
            "The {entity} course requires at least {n}% attendance; sick days are excused with a note.",
            "{entity}講座は出席率{n}%以上が必要で、病欠は証明書があれば欠席になりません。",
        ),
        numbers=range(70, 91, 5),
    ),
    _intent(
        "group_discount",
        label=("团报优惠", "Group discount", "団体割引"),
        faq=(
            ("多人一起学{entity}课程有优惠吗？", "{entity}课程有团体优惠吗？"),
            ("Is there a group discount for the {entity} course?", "Do you offer a discount if several people take the {entity} course together?"),
            ("{entity}講座に団体割引はありますか？", "何人かでいっしょに{entity}を受講すると安くなりますか？"),
        ),
        answer=(
            "{entity}课程3人以上同时报名，每人可减免{n}%学费。",
            "When three or more people enroll in the {entity} course together, each gets {n}% off.",
            "{entity}講座は3名以上で同時に申し込むと、お一人あたり{n}%割引になります。",
        ),
        numbers=range(10, 26, 5),
    ),
    _intent(
        "trial_lesson",
        label=("试听课", "Trial lesson", "体験レッスン"),
        faq=(
            ("{entity}课程可以先试听吗？", "{entity}有免费的试听课吗？"),
            ("How do I sign up for a {entity} trial lesson?", "Is there a free trial class for the {entity} course?"),
            ("{entity}講座は体験レッスンを受けられますか？", "{entity}の無料体験レッスンはありますか？"),
        ),
        answer=(
            "{entity}课程提供一节{n}分钟的免费试听课，可在官网预约。",
            "You can book one free {n}-minute trial lesson of the {entity} course on our website.",
            "{entity}講座は{n}分間の無料体験レッスンをウェブサイトから予約できます。",
        ),
        numbers=range(30, 61, 15),
    ),
    _intent(
        "class_size",
        label=("班级人数", "Class size", "クラスの人数"),
        faq=(
            ("{entity}课程一个班有多少人？", "{entity}的班级人数多吗？"),
            ("How many students are in each {entity} class?", "Are the {entity} classes small, with few students?"),
            ("{entity}講座は1クラス何人ですか？", "{entity}のクラスは少人数ですか？"),
        ),
        answer=(
            "{entity}课程采用小班教学，每班不超过{n}人。",
            "The {entity} course is taught in small groups of at most {n} students.",
            "{entity}講座は少人数制で、1クラス最大{n}名です。",
        ),
        numbers=range(6, 21),
    ),
    _intent(
        "class_recordings",
        label=("课程回放", "Class recordings", "授業の録画"),
        faq=(
            ("{entity}课程有录播回放吗？", "错过的{entity}课可以看回放吗？"),
            ("Are recordings of the {entity} classes available?", "Can I watch a recording if I miss a {entity} class?"),
            ("{entity}講座の授業は録画されますか？", "{entity}の授業を見のがしたら、録画で見られますか？"),
        ),
        answer=(
            "{entity}每节课都有录播，课后{n}天内可随时回看。",
            "Every {entity} class is recorded and can be replayed for {n} days afterwards.",
            "{entity}の授業はすべて録画され、終了後{n}日間いつでも見直せます。",
        ),
        numbers=range(30, 181, 30),
    ),
    _intent(
        "homework",
        label=("作业量", "Homework load", "宿題の量"),
        faq=(
            ("{entity}课程的作业多吗？", "{entity}每周要花多少时间做作业？"),
            ("How much homework is there in the {entity} course?", "How many hours a week of homework does the {entity} course need?"),
            ("{entity}講座の宿題は多いですか？", "{entity}の宿題には週に何時間かかりますか？"),
        ),
        answer=(
            "{entity}课程每周约有{n}小时的课后作业，作业会在下节课前批改。",
            "Expect about {n} hours of homework per week in the {entity} course; it is marked before the next class.",
            "{entity}講座の宿題は週に約{n}時間で、次の授業までに添削して返します。",
        ),
        numbers=range(1, 7),
    ),
    _intent(
        "age_requirements",
        label=("年龄要求", "Age requirements", "対象年齢"),
        faq=(
            ("{entity}课程适合多大年龄的学员？", "{entity}课程有年龄限制吗？"),
            ("What age group is the {entity} course for?", "Is there a minimum age for the {entity} course?"),
            ("{entity}講座の対象年齢は何さいですか？", "{entity}講座に年齢の制限はありますか？"),
        ),
        answer=(
            "{entity}课程面向{n}岁及以上的学员，另设青少年班。",
            "The {entity} course is open to learners aged {n} and up, with a separate group for teens.",
            "{entity}講座は{n}さい以上の方が対象で、中高生向けのクラスもあります。",
        ),
        numbers=range(8, 17),
    ),
    _intent(
        "career_support",
        label=("就业支持", "Career support", "就職サポート"),
        faq=(
            ("学完{entity}课程有就业推荐吗？", "{entity}课程提供就业辅导吗？"),
            ("Does the {entity} course include career support?", "Will you help me find a job after the {entity} course?"),
            ("{entity}講座には就職サポートがありますか？", "{entity}講座のあと、就職先さがしを手伝ってもらえますか？"),
        ),
        answer=(
            "{entity}课程学员可获得简历修改、模拟面试和{n}家合作企业的内推机会。",
            "Students of the {entity} course get resume reviews, mock interviews and referrals to our {n} partner companies.",
            "{entity}講座の受講生は、履歴書の添削、面接練習、{n}社の提携企業への紹介を受けられます。",
        ),
        numbers=range(10, 81, 10),
    ),
    _intent(
        "pause_course",
        label=("暂停学习", "Pausing the course", "休会"),
        faq=(
            ("{entity}课程可以暂停一段时间吗？", "{entity}学到一半可以申请暂停吗？"),
            ("Is it possible to pause the {entity} course for a while?", "How long can I pause the {entity} course?"),
            ("{entity}講座をしばらく休会できますか？", "{entity}を途中で休会することはできますか？"),
        ),
        answer=(
            "{entity}课程每期可申请暂停一次，最长{n}天，剩余课时会保留。",
            "You can pause the {entity} course once per term for up to {n} days, and your remaining lessons are kept.",
            "{entity}講座は1期に1回、最長{n}日まで休会でき、残りのレッスンはそのまま保留されます。",
        ),
        numbers=range(14, 91, 7),
    ),
)

CONTENT: dict[str, TenantContent] = {
    "ecommerce": TenantContent(ECOMMERCE_ENTITIES, ECOMMERCE_INTENTS),
    "medical": TenantContent(MEDICAL_ENTITIES, MEDICAL_INTENTS),
    "education": TenantContent(EDUCATION_ENTITIES, EDUCATION_INTENTS),
}
