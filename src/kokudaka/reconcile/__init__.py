"""Reconciliation: the SQL ledger and its chain outbox proven to agree with the KOKU contract.

An audit feature (``GET /v1/audit/reconciliation``, ``kokudaka audit reconcile``), in four steps
that each have a module: reading the ledger (:mod:`.ledger`), reading the chain
(:mod:`.onchain`), comparing them (:mod:`.compare`) into a report (:mod:`.report`);
:mod:`.service` runs them together and :mod:`.command` is the command line.
"""
