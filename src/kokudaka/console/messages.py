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
