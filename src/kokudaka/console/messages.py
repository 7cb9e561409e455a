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
    # Town pages
    "search": ("Search", "検索"),
    "search_supporter": ("Supporter's name or email", "応援者の名前またはメールアドレス"),
    "search_farmer": ("Farmer's or farm's name", "農家名または農園名"),
    "dashboard_title": ("{town}: season {season}", "{town} {season}年シーズン"),
    "tile_issued": ("Issued", "発行済み"),
    "tile_cap": ("Yearly cap", "年間発行上限"),
    "tile_cap_used": ("Cap used", "上限の使用率"),
    "tile_reserved": ("Reserved for unpaid investments", "入金待ちの投資に確保済み"),
    "no_policy_for_season": (
        "There is no policy for season {season} yet.",
        "{season}年シーズンの方針はまだ設定されていません。",
    ),
    "chart_by_kind_title": ("KOKU issued by kind", "種類別の発行KOKU"),
    "series_issued": ("Issued", "発行"),
    "chain_title": ("On the chain", "チェーンへの記録"),
    "reconciliation_clean": ("The ledger and the chain agree", "台帳とチェーンは一致しています"),
    "reconciliation_discrepancies": (
        "{count} discrepancies found.",
        "{count}件の不一致が見つかりました。",
    ),
    "reconciliation_checked_at": (
        "checked {at} at block {block}.",
        "{at}にブロック{block}で照合しました。",
    ),
    "reconciliation_never": (
        "No reconciliation has been run since the service started.",
        "サービスの起動後、照合はまだ実行されていません。",
    ),
    "payments_caption": ("Investments awaiting payment", "入金待ちの投資"),
    "no_payments_pending": ("No payment is waiting.", "入金待ちの投資はありません。"),
    "col_confirm": ("Confirm the payment", "入金の確認"),
    "col_farmer": ("Farmer", "農家"),
    "payment_reference": ("Payment reference", "入金の照会番号"),
    "payment_reference_for": (
        "Payment reference of {name}'s investment",
        "{name} さんの投資の入金照会番号",
    ),
    "confirm_payment": ("Confirm", "入金を確認"),
    "investment_confirmed": ("Confirmed", "確定済み"),
    "investment_pending_payment": ("Awaiting payment", "入金待ち"),
    "investment_cancelled": ("Cancelled", "取消済み"),
    "issuances_caption": ("Issuances of the town", "自治体の発行一覧"),
    "register_farmer": ("Register a farmer", "農家を登録"),
    "edit_farmer": ("Edit the farmer", "農家の情報を編集"),
    "farm_name": ("Farm", "農園名"),
    "varieties": ("Varieties", "品種"),
    "varieties_help": ("Separate with commas.", "複数の場合は読点(、)で区切ってください。"),
    "story": ("Story", "紹介文"),
    "initial_password": ("First password", "初期パスワード"),
    "initial_password_help": (
        "At least 10 characters; hand it to the farmer in person.",
        "10文字以上。農家の方に直接お伝えください。",
    ),
    "policy_title": ("Policy for season {season}", "{season}年シーズンの方針"),
    "policy_saved": ("The policy was saved.", "方針を保存しました。"),
    "price_yen_per_go": ("Price (yen per go)", "価格(1合あたりの円)"),
    "volunteer_go_per_hour": ("Volunteering (go per hour)", "ボランティア(1時間あたりの合)"),
    "yearly_cap_koku": ("Yearly issuance cap (KOKU)", "年間発行上限(KOKU)"),
    # Reconciliation
    "reconciliation_lead": (
        "Compares every issuance of the town in the ledger with the KOKU contract on the "
        "chain: each mint and burn against its event, and each holder's balance.",
        "台帳にある自治体のすべての発行を、チェーン上のKOKUコントラクトと照合します。"
        "発行・焼却の一件ずつとイベント、保有者ごとの残高を比べます。",
    ),
    "run_reconciliation": ("Reconcile now", "今すぐ照合"),
    "chain_unavailable_now": (
        "The chain cannot be reached now; nothing was checked. Try again later.",
        "チェーンに接続できないため、照合できませんでした。後でもう一度お試しください。",
    ),
    "col_ledger": ("Ledger", "台帳"),
    "col_on_chain": ("On chain", "チェーン上"),
    "col_unsettled": ("Not yet on chain", "未記録"),
    "col_agrees": ("Agrees", "一致"),
    "col_discrepancy": ("Discrepancy", "不一致の内容"),
    "col_expected": ("Ledger says", "台帳の値"),
    "col_actual": ("Chain says", "チェーンの値"),
    "no_discrepancies": ("No discrepancies.", "不一致はありません。"),
    "discrepancy_mint_missing_on_chain": (
        "A mint is missing on the chain",
        "チェーン上に発行の記録がない",
    ),
    "discrepancy_mint_amount_mismatch": ("A mint's amount differs", "発行量が異なる"),
    "discrepancy_mint_recipient_mismatch": (
        "A mint went to another address",
        "発行先のアドレスが異なる",
    ),
    "discrepancy_confirmed_without_address": (
        "Confirmed without an address",
        "アドレスなしで確定済み",
    ),
    "discrepancy_unknown_mint": ("A mint the ledger does not know", "台帳にない発行"),
    "discrepancy_duplicate_mint_event": (
        "A mint recorded twice on the chain",
        "チェーン上で発行が重複",
    ),
    "discrepancy_burn_missing_on_chain": (
        "A burn is missing on the chain",
        "チェーン上に焼却の記録がない",
    ),
    "discrepancy_burn_amount_mismatch": ("A burn's amount differs", "焼却量が異なる"),
    "discrepancy_burn_address_mismatch": (
        "A burn from another address",
        "焼却元のアドレスが異なる",
    ),
    "discrepancy_unknown_burn": ("A burn the ledger does not know", "台帳にない焼却"),
    "discrepancy_duplicate_burn_event": (
        "A burn recorded twice on the chain",
        "チェーン上で焼却が重複",
    ),
    "discrepancy_operation_failed": ("An operation failed on the chain", "チェーンへの記録に失敗"),
    "discrepancy_balance_mismatch": ("A balance differs", "残高が異なる"),
    "discrepancy_total_supply_mismatch": ("The total supply differs", "総発行量が異なる"),
    "discrepancy_season_minted_mismatch": (
        "A town's minted amount for the season differs",
        "町の年度発行量がチェーンと異なる",
    ),
    "discrepancy_mint_town_mismatch": ("Minted for another town", "別の自治体の発行として記録"),
    "discrepancy_burn_town_mismatch": ("Burned for another town", "別の自治体の焼却として記録"),
    "discrepancy_issuance_without_mint": ("An issuance without a mint", "発行に対応する記録がない"),
    "discrepancy_issuance_mint_mismatch": ("An issuance and its mint differ", "発行と記録が異なる"),
    "discrepancy_duplicate_mint_operation": ("A mint queued twice", "発行の記録が重複"),
    "discrepancy_reversal_without_burn": ("A reversal without a burn", "取消に対応する焼却がない"),
    "discrepancy_reversal_burn_mismatch": ("A reversal and its burn differ", "取消と焼却が異なる"),
    "discrepancy_burn_without_reversal": ("A burn without a reversal", "焼却に対応する取消がない"),
    "discrepancy_ledger_outbox_mismatch": (
        "The ledger and its chain queue differ",
        "台帳と送信待ちの記録が異なる",
    ),
    # Region pages
    "region_title": ("The region, season {season}", "地域の概況 {season}年シーズン"),
    "region_caption": ("Each town of the region", "地域の各自治体"),
    "col_town": ("Town", "自治体"),
    "col_farmers": ("Farmers", "農家数"),
    "col_settlement": ("Settlement", "チェーンへの記録"),
    "no_policy": ("no policy", "方針なし"),
    "settled": ("all on chain", "すべて記録済み"),
    "unsettled": ("{pending} waiting, {failed} failed", "記録待ち{pending}件、失敗{failed}件"),
    "not_run": ("not run", "未実行"),
    "series_cap_used": ("Cap used", "上限の使用率"),
    "chart_issued_by_town": ("KOKU issued by town", "自治体別の発行KOKU"),
    "chart_cap_used_by_town": ("Share of the yearly cap used", "年間発行上限の使用率"),
    "back_to_region": ("Back to the region", "地域の概況へ戻る"),
    "read_only": ("Read only: auditors change nothing.", "閲覧のみ(監査者は変更できません)。"),
    "latest_issuances": ("Latest issuances", "最近の発行"),
    # 関係人口
    "population_title": ("Relationship population", "関係人口"),
    "population_note": (
        "Counts of people only, no one is named. Prefectures with fewer than {smallest} "
        "supporters are counted together as other prefectures.",
        "人数のみで、個人は表示しません。応援者が{smallest}人未満の都道府県は"
        "「その他の都道府県」にまとめています。",
    ),
    "tile_volunteer_visits": ("Volunteer visits", "ボランティア参加(延べ)"),
    "tile_volunteers": ("Volunteers", "ボランティア参加者"),
    "tile_invested_and_volunteered": (
        "Both invested and volunteered",
        "投資とボランティアの両方",
    ),
    "chart_by_prefecture": ("Supporters by home prefecture", "居住都道府県別の応援者数"),
    "chart_new_and_returning": ("New and returning supporters", "新規とリピートの応援者数"),
    "series_supporters": ("Supporters", "応援者"),
    "series_new": ("New", "新規"),
    "series_returning": ("Returning", "リピート"),
    "prefecture_other": ("Other prefectures", "その他の都道府県"),
    "prefecture_not_given": ("Not given", "未回答"),
    # Accounts
    "search_account": ("Name or email", "名前またはメールアドレス"),
    "col_name": ("Name", "名前"),
    "col_role": ("Role", "役割"),
    "account_active": ("Active", "有効"),
    "account_disabled": ("Disabled", "無効"),
    "account_locked": ("Sign-in locked", "サインイン停止中"),
    "new_password": ("New password", "新しいパスワード"),
    "new_password_for": ("New password for {name}", "{name} さんの新しいパスワード"),
    "reset_password": ("Set password", "パスワードを再設定"),
    "unlock": ("Lift the lock", "停止を解除"),
    "disable": ("Disable", "無効にする"),
    "enable": ("Enable", "有効にする"),
    "account_done_password": (
        "The password was set; the account's sessions have ended.",
        "パスワードを再設定しました。このアカウントのサインインはすべて終了しました。",
    ),
    "account_done_unlocked": ("The sign-in lock was lifted.", "サインインの停止を解除しました。"),
    "account_done_disabled": ("The account was disabled.", "アカウントを無効にしました。"),
    "account_done_enabled": ("The account was enabled.", "アカウントを有効にしました。"),
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


class Translator:
    """``t`` in templates: the text of a key in the page's language."""

    def __init__(self, language: Language) -> None:
        self.language = language

    def __call__(self, key: str, **params: object) -> str:
        return translate(key, self.language, **params)
