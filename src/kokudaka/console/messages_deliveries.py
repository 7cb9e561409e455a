"""The console's words for rice for bills: the shipping list, its forms and the delivery
ledger, in English and Japanese (merged into :data:`kokudaka.console.messages.MESSAGES`)."""

from __future__ import annotations

DELIVERY_MESSAGES: dict[str, tuple[str, str]] = {
    "nav_shipping": ("Shipping", "発送"),
    "nav_deliveries": ("Delivery ledger", "受け渡し台帳"),
    "shipping_lead": (
        "Rice that supporters asked for with their rice bills, the longest waiting first. "
        "Mark each one shipped (or handed over at the farm), or refuse it with a reason "
        "the supporter will see: its rice goes back to their bill.",
        "応援者が米手形で引き換えを依頼したお米です(依頼の古い順)。発送(または農園での"
        "お渡し)を記録するか、理由を添えてお断りしてください。お断りした分は米手形に戻ります。",
    ),
    "shipping_caption": ("Redemptions of rice bills", "米手形の引き換え"),
    "no_redemptions": ("No redemption to show.", "表示する引き換えはありません。"),
    "shipping_done_shipped": ("Recorded as shipped.", "発送済みにしました。"),
    "shipping_done_refused": ("The redemption was refused.", "引き換えをお断りしました。"),
    "redemption_state_requested": ("To ship", "発送待ち"),
    "redemption_state_shipped": ("Shipped", "発送済み"),
    "redemption_state_received": ("Received", "受取済み"),
    "redemption_state_cancelled": ("Cancelled by the supporter", "応援者が取消"),
    "redemption_state_refused": ("Refused", "お断り済み"),
    "delivery_requested_at": ("Requested", "依頼日時"),
    "delivery_amount": ("Rice", "お米の量"),
    "delivery_method": ("How", "受け渡し方法"),
    "delivery_method_delivery": ("Delivery", "配送"),
    "delivery_method_pickup": ("Pick-up at the farm", "農園で受け取り"),
    "delivery_address": ("Address", "お届け先"),
    "delivery_address_erased": (
        "Erased after the retention period",
        "保存期間が過ぎたため消去済み",
    ),
    "delivery_shipped_kg": ("Weight shipped (kg)", "発送した重量(kg)"),
    "delivery_carrier": ("Carrier", "配送業者"),
    "delivery_tracking_number": ("Tracking number", "伝票番号"),
    "delivery_ship": ("Mark shipped", "発送済みにする"),
    "delivery_refusal_reason": ("Reason for refusing", "お断りの理由"),
    "delivery_refuse": ("Refuse", "お断りする"),
    "deliveries_lead": (
        "Per harvested work of the season and per supporter: the rice bills issued, the "
        "rice still owed (not yet asked for, plus requested), and what was shipped, "
        "received and refused, in go and kg.",
        "シーズンの収穫済みの作品ごと、応援者ごとに、発行した米手形、まだお渡ししていない"
        "お米(未依頼と依頼中)、発送・受取・お断りの量を合とkgで示します。",
    ),
    "deliveries_lead_town": (
        "The town's farmers' harvested works of the season, per supporter. What is left to ship:",
        "町の農家の、シーズンの収穫済みの作品を応援者ごとに示します。発送待ちの一覧:",
    ),
    "delivery_bills": ("Rice bills", "米手形"),
    "delivery_outstanding": ("Owed", "未引渡し"),
    "delivery_left": ("Not yet asked for", "未依頼"),
    "delivery_requested": ("Requested", "依頼中"),
    "delivery_shipped": ("Shipped", "発送済み"),
    "delivery_shipped_weight": ("Weight shipped", "発送重量"),
    "delivery_received": ("Received", "受取済み"),
    "delivery_refused": ("Refused", "お断り"),
    "delivery_total": ("Total", "合計"),
    "no_deliveries": (
        "No work has rice bills for season {season}.",
        "{season}年シーズンに米手形を発行した作品はありません。",
    ),
}
