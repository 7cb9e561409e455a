"""The console's words for the reconciliation page: its figures, states and every kind of
discrepancy, in English and Japanese (merged into :data:`kokudaka.console.messages.MESSAGES`)."""

from __future__ import annotations

RECONCILIATION_MESSAGES: dict[str, tuple[str, str]] = {
    "reconciliation_lead": (
        "Compares every issuance of the town in the ledger with the KOKU contract on the "
        "chain: each mint and burn against its event, and each holder's balance.",
        "台帳にある自治体のすべての発行を、チェーン上のKOKUコントラクトと照合します。"
        "発行・焼却の一件ずつとイベント、保有者ごとの残高を比べます。",
    ),
    "run_reconciliation": ("Reconcile now", "今すぐ照合"),
    "reconciliation_running": (
        "The reconciliation is running; this page updates itself.",
        "照合を実行中です。このページは自動で更新されます。",
    ),
    "reconciliation_progress": ("operations compared", "照合済みの記録"),
    "reconciliation_seasons": (
        "The town's caps, in the ledger and on the chain",
        "発行上限（台帳とチェーン）",
    ),
    "col_cap_ledger": ("Cap (ledger)", "発行上限（台帳）"),
    "col_cap_on_chain": ("Cap on chain", "チェーン上の上限"),
    "col_cap_left": ("Left to issue (ledger)", "発行可能残（台帳）"),
    "col_allowance_left": ("Left to mint (chain)", "発行可能残（チェーン）"),
    "col_cap_signed": ("Cap signed on chain", "上限のチェーン反映"),
    "cap_awaiting_signature": (
        "Awaiting the administrator's signature",
        "管理者の署名待ち",
    ),
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
    "discrepancy_conversion_without_burn": (
        "A converted board without its burn",
        "米手形に換えたボードの焼却がない",
    ),
    "discrepancy_conversion_burn_mismatch": (
        "A converted board and its burn differ",
        "米手形に換えたボードと焼却が異なる",
    ),
    "discrepancy_duplicate_burn_operation": ("A burn queued twice", "焼却の記録が重複"),
    "discrepancy_entry_unbalanced": (
        "A journal entry does not sum to zero",
        "仕訳の合計がゼロにならない",
    ),
    "discrepancy_account_balance_mismatch": (
        "An account's balance differs from its postings",
        "勘定の残高が明細の合計と異なる",
    ),
    "discrepancy_bill_without_mint": ("A rice bill without a mint", "米手形に対応する記録がない"),
    "discrepancy_bill_mint_operation_mismatch": (
        "A rice bill and its mint differ",
        "米手形と記録が異なる",
    ),
    "discrepancy_duplicate_bill_mint_operation": (
        "A rice bill queued twice",
        "米手形の記録が重複",
    ),
    "discrepancy_bill_ledger_outbox_mismatch": (
        "A holder's rice bills and their chain queue differ",
        "米手形の残高と送信待ちの記録が異なる",
    ),
    "discrepancy_bill_mint_missing": (
        "A rice bill is not on the chain",
        "米手形がチェーンにない",
    ),
    "discrepancy_bill_burn_missing": (
        "A rice bill burn is not on the chain",
        "米手形の焼却がチェーンにない",
    ),
    "discrepancy_bill_amount_mismatch": ("A rice bill's amount differs", "米手形の量が異なる"),
    "discrepancy_bill_recipient_mismatch": (
        "A rice bill went to another address",
        "米手形の宛先が異なる",
    ),
    "discrepancy_bill_work_mismatch": (
        "A rice bill was minted for another work",
        "米手形の作品が異なる",
    ),
    "discrepancy_bill_town_mismatch": (
        "A rice bill was recorded for another town",
        "米手形が別の自治体の記録になっている",
    ),
    "discrepancy_unknown_bill_mint": (
        "A rice bill the ledger does not know",
        "台帳にない米手形",
    ),
    "discrepancy_unknown_bill_burn": (
        "A rice bill burn the ledger does not know",
        "台帳にない米手形の焼却",
    ),
    "discrepancy_duplicate_bill_event": (
        "A rice bill recorded twice on the chain",
        "米手形がチェーンに二重に記録",
    ),
    "discrepancy_bill_skip_mismatch": (
        "A skipped rice bill resend differs from the original",
        "再送で省かれた米手形が元の記録と異なる",
    ),
    "discrepancy_bill_balance_mismatch": (
        "A rice bill balance differs",
        "米手形の残高が異なる",
    ),
    "discrepancy_bill_supply_mismatch": (
        "A work's rice bills in circulation differ",
        "作品の米手形の流通量が異なる",
    ),
    "discrepancy_bill_work_unregistered": (
        "A work with rice bills is not registered on the chain",
        "米手形のある作品がチェーンに登録されていない",
    ),
    "discrepancy_bill_work_town_mismatch": (
        "A work is registered to another town on the chain",
        "作品がチェーンで別の自治体に登録されている",
    ),
    "discrepancy_bill_work_season_mismatch": (
        "A work is registered for another season on the chain",
        "作品がチェーンで別のシーズンに登録されている",
    ),
    "discrepancy_bill_work_cap_mismatch": (
        "A work's cap on the chain differs from its rice bills",
        "作品のチェーン上の上限が米手形の合計と異なる",
    ),
    "discrepancy_bill_work_minted_mismatch": (
        "A work's minted rice bills differ on the chain",
        "作品の米手形の発行量がチェーン上で異なる",
    ),
    "reconciliation_bills": ("Rice bills by work", "作品ごとの米手形"),
    "col_work": ("Work", "作品"),
    "col_bills_issued": ("Issued", "発行"),
    "col_bills_outstanding": ("Outstanding", "未引換"),
    "col_bills_on_chain": ("On the chain", "チェーン上"),
    "col_bills_cap": ("Cap on the chain", "チェーン上の上限"),
}
