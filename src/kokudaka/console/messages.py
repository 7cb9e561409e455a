"""Every word of the console, in Japanese and English.

Templates never hold literal text: they call ``t("key")``, and a key missing here fails
the page (tests render every page), so no string is left in one language. Errors from
the services keep their own messages (``kokudaka.core.i18n``).
"""

from __future__ import annotations

from kokudaka.core.i18n import Language

# key -> (English, Japanese). Placeholders are filled from ``translate``'s params.
MESSAGES: dict[str, tuple[str, str]] = {
    # Frame of every page
    "app_name": ("Kokudaka console", "石高 管理画面"),
    "skip_to_content": ("Skip to content", "本文へ移動"),
    "main_navigation": ("Main navigation", "メインメニュー"),
    "language": ("Language", "言語"),
    "switch_language": ("日本語", "English"),
    "switch_language_label": ("表示を日本語にする", "Show in English"),
    "sign_out": ("Sign out", "サインアウト"),
    "signed_in_as": ("Signed in as {name}", "{name} さんでサインイン中"),
    "role_farmer": ("Farmer", "農家"),
    "role_town_admin": ("Town administrator", "自治体管理者"),
    "role_regional_auditor": ("Regional auditor", "地域監査者"),
    "role_platform_admin": ("Platform administrator", "プラットフォーム管理者"),
    "role_supporter": ("Supporter", "応援者"),
    # Menus
    "nav_farmer_season": ("This season", "今シーズン"),
    "nav_farmer_ledger": ("Support ledger", "応援台帳"),
    "nav_farmer_hours": ("Activities and hours", "活動と作業時間"),
    "nav_farmer_works": ("Works", "作品"),
    "nav_town_dashboard": ("Dashboard", "ダッシュボード"),
    "nav_town_payments": ("Payments to confirm", "入金確認"),
    "nav_town_farmers": ("Farmers", "農家"),
    "nav_town_accounts": ("Supporters and staff", "応援者・職員"),
    "nav_town_policy": ("Season policy", "シーズンの方針"),
    "nav_town_issuances": ("Issuances", "発行履歴"),
    "nav_town_reconciliation": ("Reconciliation", "照合"),
    "nav_region": ("The region", "地域の概況"),
    # Sign-in
    "sign_in": ("Sign in", "サインイン"),
    "sign_in_title": ("Sign in to the console", "管理画面にサインイン"),
    "sign_in_lead": (
        "For farmers, town staff and regional auditors.",
        "農家・自治体職員・地域監査者の方はこちらからサインインしてください。",
    ),
    "email": ("Email address", "メールアドレス"),
    "password": ("Password", "パスワード"),
    "signed_out": ("You have signed out.", "サインアウトしました。"),
    # Shared words
    "season": ("Season", "シーズン"),
    "filters": ("Filters", "絞り込み"),
    "show": ("Show", "表示"),
    "all": ("All", "すべて"),
    "work": ("Work", "作品"),
    "kind": ("Kind", "種類"),
    "kind_investment": ("Investment", "投資"),
    "kind_contribution": ("Volunteering", "ボランティア"),
    "series_investment": ("Investment", "投資"),
    "series_contribution": ("Volunteering", "ボランティア"),
    "unit_go": ("KOKU", "KOKU(石)"),
    "unit_count": ("Count", "件数"),
    "unit_percent": ("%", "%"),
    "yes": ("yes", "はい"),
    "save": ("Save", "保存"),
    "edit": ("Edit", "編集"),
    "reversed": ("reversed", "取消済み"),
    "no_rows": ("Nothing to show.", "表示する項目はありません。"),
    "no_data_yet": ("No data yet.", "まだデータがありません。"),
    "next_page": ("Next page", "次のページ"),
    "download_csv": ("Download CSV", "CSVをダウンロード"),
    "chart_as_table": ("The same as a table", "同じ内容を表で見る"),
    "chart_label": ("Period", "期間"),
    "form_has_errors": ("Some fields need attention.", "入力内容を確認してください。"),
    "description": ("Description", "説明"),
    "chain_pending": ("waiting", "記録待ち"),
    "chain_submitted": ("sent", "送信済み"),
    "chain_confirmed": ("on chain", "記録済み"),
    "chain_failed": ("failed", "失敗"),
    "status_pending": ("Awaiting approval", "承認待ち"),
    "status_approved": ("Approved", "承認済み"),
    "status_rejected": ("Rejected", "却下済み"),
    # Columns
    "col_when": ("When", "日時"),
    "col_kind": ("Kind", "種類"),
    "col_supporter": ("Supporter", "応援者"),
    "col_work_or_activity": ("Work or activity", "作品・活動"),
    "col_yen": ("Yen", "金額(円)"),
    "col_hours": ("Hours", "時間"),
    "col_go": ("Go", "合"),
    "col_koku": ("KOKU", "KOKU"),
    "col_reversed": ("Reversed", "取消"),
    "col_chain": ("Chain", "チェーン"),
    "col_activity": ("Activity", "活動"),
    "col_day": ("Day", "日付"),
    "col_place": ("Place", "場所"),
    "col_rate": ("Go per hour", "1時間あたりの合"),
    "col_participants": ("Participants", "参加者"),
    "col_review": ("Review", "確認"),
    "col_title": ("Title", "名前"),
    "col_variety": ("Variety", "品種"),
    "col_offer": ("Yen on offer", "募集額(円)"),
    "col_subscribed": ("Yen subscribed", "応援額(円)"),
    "col_state": ("State", "状態"),
    "col_actions": ("Actions", "操作"),
    # Farmer pages
    "season_title": ("Season {season} at a glance", "{season}年シーズンの概況"),
    "tile_yen_supported": ("Yen supported", "応援額"),
    "tile_supporters": ("Supporters", "応援者数"),
    "tile_hours": ("Volunteer hours", "ボランティア時間"),
    "tile_koku_issued": ("KOKU issued", "発行KOKU"),
    "chart_weekly_title": ("KOKU issued by week", "週ごとの発行KOKU"),
    "ledger_caption": (
        "Every issuance for support of your rice",
        "あなたのお米への応援による発行の一覧",
    ),
    "hours_pending": ("Hours awaiting your approval", "承認待ちの作業時間"),
    "no_hours_pending": ("No hours are waiting.", "承認待ちの作業時間はありません。"),
    "activities": ("Your activities", "あなたの活動"),
    "approve": ("Approve", "承認"),
    "reject": ("Reject", "却下"),
    "rejection_reason": ("Reason for rejecting", "却下の理由"),
    "rejection_reason_for": (
        "Reason for rejecting {name}'s hours",
        "{name} さんの時間を却下する理由",
    ),
    "new_work": ("New work", "作品を追加"),
    "edit_work": ("Edit work", "作品を編集"),
    "work_open": ("Open", "受付中"),
    "work_closed": ("Closed", "受付終了"),
    "open_work": ("Open for support", "受付を開始"),
    "close_work": ("Close", "受付を終了"),
    "work_is_open": ("Open for support", "応援を受け付ける"),
    "field_area_m2": ("Field area (m²)", "作付面積(m²)"),
    "planned_yield_kg": ("Planned yield of polished rice (kg)", "予定収量(精米、kg)"),
    # Errors
    "error_title": ("Something went wrong", "エラーが発生しました"),
    "error_status": ("Status {status}", "ステータス {status}"),
    "back_to_home": ("Back to the console's home", "管理画面のトップへ戻る"),
}


def translate(key: str, language: Language, **params: object) -> str:
    """The text of ``key`` in ``language``; an unknown key is a defect, so it raises."""
    english, japanese = MESSAGES[key]
    template = japanese if language == "ja" else english
    return template.format(**params) if params else template
