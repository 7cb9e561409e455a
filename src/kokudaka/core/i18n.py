"""Error messages in Japanese and English, chosen by the request's ``Accept-Language``.

Each error code has one entry; the machine-readable ``code`` never changes with the
language, only ``title`` and ``detail`` do.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Request

Language = Literal["ja", "en"]
DEFAULT_LANGUAGE: Language = "ja"

# code -> (English, Japanese). Placeholders are filled from the error's params.
MESSAGES: dict[str, tuple[str, str]] = {
    "bad_request": ("The request is malformed.", "リクエストの形式が正しくありません。"),
    "validation_error": (
        "The request has invalid fields.",
        "リクエストに不正な項目があります。",
    ),
    "not_found": ("{resource} not found.", "{resource}が見つかりません。"),
    "method_not_allowed": ("Method not allowed.", "このメソッドは使えません。"),
    "request_too_large": (
        "The request body is larger than {max_bytes} bytes.",
        "リクエスト本文が大きすぎます(上限{max_bytes}バイト)。",
    ),
    "request_timeout": (
        "The request body did not arrive within {seconds} seconds.",
        "リクエスト本文が{seconds}秒以内に届きませんでした。",
    ),
    "body_too_deep": (
        "The request body is nested deeper than {max_depth} levels.",
        "リクエスト本文の入れ子が深すぎます(上限{max_depth}階層)。",
    ),
    "not_authenticated": ("Sign-in required.", "サインインが必要です。"),
    "invalid_token": (
        "The access token is invalid or expired.",
        "アクセストークンが無効か期限切れです。",
    ),
    "invalid_credentials": (
        "Wrong email or password.",
        "メールアドレスまたはパスワードが違います。",
    ),
    "cannot_disable_own_account": (
        "You cannot disable your own account.",
        "自分のアカウントは無効化できません。",
    ),
    "cannot_disable_platform_admin": (
        "A platform administrator's account cannot be disabled.",
        "プラットフォーム管理者のアカウントは無効化できません。",
    ),
    "too_many_sign_in_attempts": (
        "Too many failed sign-ins; try again in {retry_after} seconds.",
        "サインインの失敗が多すぎます。{retry_after}秒後にもう一度お試しください。",
    ),
    "forbidden": (
        "You may not do this.",
        "この操作は許可されていません。",
    ),
    "email_taken": (
        "An account with this email already exists.",
        "このメールアドレスのアカウントは既にあります。",
    ),
    "municipality_code_taken": (
        "A municipality with this code already exists.",
        "このコードの自治体は既にあります。",
    ),
    "region_code_taken": (
        "A region with this code already exists.",
        "このコードの地域は既にあります。",
    ),
    "policy_missing": (
        "The municipality has no policy for season {season}.",
        "自治体に{season}年度のポリシーがありません。",
    ),
    "farmer_id_required": (
        "A town administrator must name the farmer (farmer_id).",
        "自治体管理者は農家(farmer_id)を指定してください。",
    ),
    "work_closed": ("This work is closed for support.", "この作品は応援を受け付けていません。"),
    "work_oversubscribed": (
        "This work has only {remaining_yen} yen left on offer.",
        "この作品の残り募集額は{remaining_yen}円です。",
    ),
    "offer_below_subscribed": (
        "The offer cannot go below the {subscribed_yen} yen already subscribed.",
        "募集額を応援済みの{subscribed_yen}円より下げることはできません。",
    ),
    "investment_too_small": (
        "At least {price_yen_per_go} yen is needed to issue one go.",
        "1合の発行には{price_yen_per_go}円以上が必要です。",
    ),
    "issuance_cap_exceeded": (
        "This would pass the municipality's yearly issuance cap ({remaining_go} go left).",
        "自治体の年間発行上限を超えます(残り{remaining_go}合)。",
    ),
    "cap_below_committed": (
        "The yearly cap cannot go below {committed_go} go: {issued_go} go issued and "
        "{reserved_go} go reserved for investments awaiting payment.",
        "年間発行上限は{committed_go}合より低くできません(発行済み{issued_go}合、"
        "入金待ちの投資に確保済み{reserved_go}合)。",
    ),
    "investment_not_pending": (
        "This investment is {status}, not awaiting payment.",
        "この投資は{status}の状態で、入金待ちではありません。",
    ),
    "idempotency_key_reused": (
        "This Idempotency-Key was already used with a different request.",
        "この Idempotency-Key は別のリクエストで使用済みです。",
    ),
    "invalid_signature": (
        "The webhook signature is invalid.",
        "Webhook の署名が正しくありません。",
    ),
    "webhook_replayed": (
        "This payment event was already received.",
        "この入金イベントは受信済みです。",
    ),
    "webhook_stale": (
        "The webhook timestamp is outside the allowed window.",
        "Webhook のタイムスタンプが許容範囲外です。",
    ),
    "payment_amount_mismatch": (
        "The paid amount {paid_yen} yen does not match the investment of {amount_yen} yen.",
        "入金額{paid_yen}円が投資額{amount_yen}円と一致しません。",
    ),
    "activity_full": ("This activity is full.", "この活動は定員に達しています。"),
    "already_joined": (
        "You already logged hours for this activity.",
        "この活動の時間は既に記録されています。",
    ),
    "hours_exceed_limit": (
        "At most {max_hours} hours per person for this activity.",
        "この活動は1人あたり最大{max_hours}時間です。",
    ),
    "contribution_not_pending": (
        "This contribution is already {status}.",
        "この貢献は既に{status}です。",
    ),
    "self_approval": (
        "You cannot approve your own hours.",
        "自分の時間を承認することはできません。",
    ),
    "rate_above_policy": (
        "{go_per_hour} go per hour is above the town's policy rate of {policy_rate}.",
        "1時間あたり{go_per_hour}合は自治体のポリシー({policy_rate}合)を超えています。",
    ),
    "unknown_farmer": ("No farmer has this id.", "このIDの農家はいません。"),
    "entry_already_reversed": (
        "This journal entry was already reversed.",
        "この仕訳は既に取り消されています。",
    ),
    "issuance_converted": (
        "This issuance was a board on a harvested work and became a rice bill; it can no "
        "longer be reversed.",
        "この発行は収穫済みの作品のボードとして米手形に換わったため、取り消せません。",
    ),
    "work_harvested": (
        "This work's harvest is settled and its rice bills issued: it takes no more "
        "investments or payments.",
        "この作品は収穫が確定し米手形が発行済みのため、投資も入金も受け付けません。",
    ),
    "entry_not_reversible": (
        "Only issuance entries can be reversed.",
        "取り消せるのは発行の仕訳だけです。",
    ),
    "invalid_cursor": ("The paging cursor is invalid.", "ページングカーソルが正しくありません。"),
    "conflict": (
        "The request conflicts with the current state.",
        "現在の状態と矛盾するリクエストです。",
    ),
    "database_unavailable": (
        "The database is unavailable; nothing was written. Try again.",
        "データベースに接続できません。何も書き込まれていません。再度お試しください。",
    ),
    "chain_unavailable": (
        "The chain is unavailable. Try again later.",
        "チェーンに接続できません。後でもう一度お試しください。",
    ),
    "reconciliations_busy": (
        "Too many reconciliations are waiting; try again in {retry_after} seconds.",
        "実行待ちの照合が多すぎます。{retry_after}秒後にもう一度お試しください。",
    ),
    "wallet_challenge_invalid": (
        "The wallet challenge is unknown, used or expired.",
        "ウォレットのチャレンジが無効か使用済みか期限切れです。",
    ),
    "wallet_signature_invalid": (
        "The signature does not prove control of this address.",
        "署名がこのアドレスの所有を証明していません。",
    ),
    "wallet_address_taken": (
        "This address is already another account's wallet.",
        "このアドレスは既に別のアカウントのウォレットです。",
    ),
    "internal_error": (
        "An unexpected error occurred.",
        "予期しないエラーが発生しました。",
    ),
    "unknown_query_parameter": (
        "Unknown query parameters: {names}.",
        "使えないクエリパラメーターがあります: {names}。",
    ),
    "console_supporter_refused": (
        "The console is for farmers and town staff; supporters use the app.",
        "この管理画面は農家と自治体職員のためのものです。応援者の方はアプリをご利用ください。",
    ),
    "console_csrf_refused": (
        "The form has expired or did not come from this console; reload the page and try again.",
        "フォームの有効期限が切れたか、この管理画面から送信されていません。"
        "ページを再読み込みしてもう一度お試しください。",
    ),
    "boards_closed": (
        "Boards for season {season}'s works closed on {closed_on}: no more investments in "
        "them, nor hours on activities naming them.",
        "{season}年度の作品へのボードの受付は{closed_on}で終了しました(投資も、作品を指定した"
        "活動の時間も受け付けません)。",
    ),
    "activity_work_mismatch": (
        "An activity may name only a work of its host farmer, of the activity's season.",
        "活動に指定できるのは、主催する農家のその年度の作品だけです。",
    ),
    "bills_already_issued": (
        "This work's rice bills are already issued; its harvest can no longer change.",
        "この作品の米手形は発行済みのため、収穫の報告は変更できません。",
    ),
    "harvest_date_invalid": (
        "The harvest date must be in season {season} and not after today (Japan time).",
        "収穫日は{season}年度内で、今日(日本時間)以前の日付にしてください。",
    ),
    "bills_expire_before_boards_close": (
        "Bills must expire after boards close: {bills_expire_on} is not after {boards_close_on}.",
        "米手形の有効期限はボード受付終了日より後にしてください({bills_expire_on}は"
        "{boards_close_on}より後ではありません)。",
    ),
    "own_yield_report": (
        "A yield report is countersigned or rejected by a town administrator who did not file it.",
        "収量報告の確認・却下は、報告した人以外の自治体管理者が行います。",
    ),
    "yield_report_not_filed": (
        "This yield report is {status}, not awaiting countersignature.",
        "この収量報告は{status}のため、確認待ちではありません。",
    ),
    "bills_expired": (
        "The rice bills of season {season} were valid through {valid_through}: they can no "
        "longer be redeemed.",
        "{season}年度の米手形の有効期限は{valid_through}までのため、引換できません。",
    ),
    "bill_insufficient": (
        "Only {remaining_go} go of this rice bill are left to redeem.",
        "この米手形で引換できるのは残り{remaining_go}合です。",
    ),
    "redemption_not_requested": (
        "This redemption is {status}: only a requested redemption can be shipped, cancelled "
        "or refused.",
        "この引換は{status}のため、発送・取消・お断りはできません(依頼中のものだけです)。",
    ),
    "redemption_not_shipped": (
        "This redemption is {status}: only a shipped redemption can be received.",
        "この引換は{status}のため、受取の確認はできません(発送済みのものだけです)。",
    ),
    "national_code_taken": (
        "A municipality with this national municipality code already exists.",
        "この全国地方公共団体コードの自治体は既にあります。",
    ),
}


#: Parameters whose values are words shown to the user, not data: they are translated
#: through :data:`TERMS` (so no English word appears inside a Japanese message).
TERM_PARAMS = frozenset({"resource", "status"})

# English term -> Japanese. Resource names (for ``not_found``) and record states.
TERMS: dict[str, str] = {
    "Resource": "リソース",
    "Page": "ページ",
    "Reconciliation": "照合",
    "User": "ユーザー",
    "Region": "地域",
    "Municipality": "自治体",
    "Policy": "ポリシー",
    "Farmer": "農家",
    "Work": "作品",
    "Investment": "投資",
    "Activity": "活動",
    "Contribution": "貢献",
    "Journal entry": "仕訳",
    "Wallet": "ウォレット",
    "Issuance": "発行",
    "Deployment": "デプロイ",
    "Yield report": "収量報告",
    "Bill": "米手形",
    "Redemption": "引換",
    "requested": "依頼中",
    "shipped": "発送済み",
    "received": "受取済み",
    "refused": "お断り済み",
    "Notice": "お知らせ",
    "filed": "確認待ち",
    "countersigned": "確認済み",
    "superseded": "差し替え済み",
    "pending": "保留中",
    "pending_payment": "入金待ち",
    "confirmed": "確定済み",
    "cancelled": "取消済み",
    "approved": "承認済み",
    "rejected": "却下済み",
}


def untranslated_terms(params: dict[str, object]) -> list[str]:
    """The term parameters that have no Japanese translation (checked when an error is
    built, as its code is)."""
    return [
        f"{name}={value}"
        for name, value in params.items()
        if name in TERM_PARAMS and str(value) not in TERMS
    ]


# Pydantic's error type -> Japanese field message; placeholders come from its ``ctx``.
# English keeps Pydantic's own message.
FIELD_ERRORS_JA: dict[str, str] = {
    "missing": "必須の項目です。",
    "extra_forbidden": "この項目は使えません。",
    "unknown_query_parameter": "このクエリパラメーターは使えません。",
    "json_invalid": "JSONの形式が正しくありません。",
    "json_type": "JSONで指定してください。",
    "string_type": "文字列で指定してください。",
    "string_too_short": "{min_length}文字以上で入力してください。",
    "string_too_long": "{max_length}文字以内で入力してください。",
    "string_pattern_mismatch": "形式が正しくありません。",
    "string_unicode": "正しい文字列ではありません。",
    "int_type": "整数で指定してください。",
    "int_parsing": "整数で指定してください。",
    "int_parsing_size": "整数が大きすぎます。",
    "int_from_float": "小数ではなく整数で指定してください。",
    "float_type": "数値で指定してください。",
    "float_parsing": "数値で指定してください。",
    "finite_number": "有限の数値で指定してください。",
    "decimal_type": "数値で指定してください。",
    "decimal_parsing": "数値で指定してください。",
    "decimal_max_digits": "数字は{max_digits}桁までです。",
    "decimal_max_places": "小数点以下は{decimal_places}桁までです。",
    "decimal_whole_digits": "整数部は{whole_digits}桁までです。",
    "greater_than": "{gt}より大きい値を指定してください。",
    "greater_than_equal": "{ge}以上の値を指定してください。",
    "less_than": "{lt}未満の値を指定してください。",
    "less_than_equal": "{le}以下の値を指定してください。",
    "multiple_of": "{multiple_of}の倍数で指定してください。",
    "bool_type": "true か false で指定してください。",
    "bool_parsing": "true か false で指定してください。",
    "uuid_type": "UUIDの形式で指定してください。",
    "uuid_parsing": "UUIDの形式で指定してください。",
    "uuid_version": "UUIDの形式で指定してください。",
    "date_type": "日付(YYYY-MM-DD)で指定してください。",
    "date_parsing": "日付(YYYY-MM-DD)で指定してください。",
    "date_from_datetime_parsing": "日付(YYYY-MM-DD)で指定してください。",
    "date_from_datetime_inexact": "時刻を含まない日付で指定してください。",
    "datetime_type": "日時(ISO 8601)で指定してください。",
    "datetime_parsing": "日時(ISO 8601)で指定してください。",
    "datetime_from_date_parsing": "日時(ISO 8601)で指定してください。",
    "timezone_aware": "タイムゾーン付きの日時で指定してください。",
    "enum": "次のいずれかを指定してください: {expected}",
    "literal_error": "次のいずれかを指定してください: {expected}",
    "dict_type": "オブジェクトで指定してください。",
    "model_type": "オブジェクトで指定してください。",
    "model_attributes_type": "オブジェクトで指定してください。",
    "list_type": "配列で指定してください。",
    "too_short": "{min_length}個以上指定してください。",
    "too_long": "{max_length}個以内で指定してください。",
    "url_type": "URLで指定してください。",
    "url_parsing": "URLの形式が正しくありません。",
    "url_scheme": "URLのスキームが正しくありません。",
    "url_too_long": "URLが長すぎます。",
    "bytes_type": "文字列で指定してください。",
    "value_error": "値が正しくありません。",
    "control_character": "制御文字は使えません(改行とタブは自由記述の欄でのみ使えます)。",
    "email": "メールアドレスの形式が正しくありません。",
    "string_blank": "空白だけの値は指定できません。",
    "null_not_allowed": "空の値は指定できません。変更しない項目は省略してください。",
    "quarter_hours": "時間は0.25から24までの15分単位で指定してください(例: 2.5)。",
    "assertion_error": "値が正しくありません。",
}
FIELD_ERROR_FALLBACK_JA = "値が正しくありません。"


def field_error_message(
    error_type: str, context: dict[str, object] | None, english: str, language: Language
) -> str:
    """One field's validation message in the request's language."""
    if language == "en":
        return english
    template = FIELD_ERRORS_JA.get(error_type, FIELD_ERROR_FALLBACK_JA)
    try:
        return template.format(**(context or {}))
    except (KeyError, IndexError, ValueError):
        return FIELD_ERROR_FALLBACK_JA


def negotiate_language(accept_language: str | None) -> Language:
    """Pick ``ja`` or ``en`` from an Accept-Language header by quality value."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    best: tuple[float, Language] | None = None
    for index, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        lang: Language | None = None
        if tag.startswith("ja"):
            lang = "ja"
        elif tag.startswith("en"):
            lang = "en"
        if lang is None or quality <= 0:
            continue
        # Earlier entries win ties, as RFC 9110 suggests for equal weights.
        score = quality - index * 1e-6
        if best is None or score > best[0]:
            best = (score, lang)
    return best[1] if best else DEFAULT_LANGUAGE


# ``async`` though it does no I/O: FastAPI runs a plain ``def`` dependency in a worker
# thread, a hop that costs more than the function.
async def request_language(request: Request) -> Language:
    """The language a request's answer is written in (a FastAPI dependency)."""
    return negotiate_language(request.headers.get("accept-language"))


RequestLanguage = Annotated[Language, Depends(request_language)]


def message(code: str, language: Language, params: dict[str, object]) -> str:
    english, japanese = MESSAGES.get(code, MESSAGES["internal_error"])
    template = japanese if language == "ja" else english
    if language == "ja":
        params = {
            name: TERMS.get(str(value), value) if name in TERM_PARAMS else value
            for name, value in params.items()
        }
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template
