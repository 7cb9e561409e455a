"""Settlement: the worker that sends the chain outbox (``chain_operations``) and records what
happened.

Every issuance writes a pending mint in the same SQL transaction as its journal entry; every
reversal writes a pending burn; a work's harvest conversion writes a KOKU burn per board issuance
and a rice bill mint per bill (``asset = bill``). This worker turns them into transactions on the
KOKU and rice bills contracts, exactly once on the chain whatever crashes, and never holds a
database transaction while it waits on the chain.

**Towns as issuers.** Each town mints and burns with its own minter key (``town_minters``, see
:mod:`kokudaka.towns.minters`), within its cap per season on chain. :mod:`.pool` runs one
:class:`~kokudaka.settlement.worker.SettlementWorker` per town minter, each in its own thread,
with the minter's own nonce stream: towns settle in parallel, and a town's trouble (its cap used
up, a key that does not open) stops that town only. Every transaction is recorded with its sender,
and everything below (polling, resending, nonces, lost confirmations) is per sender.

One cycle of a town's worker (:meth:`~kokudaka.settlement.worker.SettlementWorker.run_once`), a
module per step:

1. **Poll** (:mod:`.receipts`, :mod:`.outcomes`, :mod:`.sending`). Read the minter's mined nonce,
   then the receipt of every transaction it sent. Mined: operations ``confirmed`` with block and
   gas (a reverted transaction puts its operations back to ``pending`` with backoff, or ``failed``
   when no retry can help; ``AllowanceExceeded`` sets them waiting for the cap). Not mined, and its
   nonce used by another transaction: ``replaced``, operations back to ``pending``. Not mined and
   unknown to the node (dropped, or the node restarted): the *same signed bytes* are sent again.
2. **Claim and record** (:mod:`.claiming`, :mod:`.nonces`, :mod:`.allowances`). In one short
   database transaction: lock the minter's ``town_minters`` row (this serialises its nonces across
   workers and processes, and a rotated-out key finds itself retired; on SQLite ``BEGIN
   IMMEDIATE`` serialises all writers), take the town's due pending operations (``FOR UPDATE SKIP
   LOCKED`` on PostgreSQL), fix each recipient from the user's wallet, group up to
   ``settlement_batch_size`` mints per season into ``mintBatch(season, ...)`` within what the town
   may still mint that season (the rest wait for the cap, with the reason in ``last_error``; in
   development the worker raises the cap to the town's policy itself), group KOKU burns into
   ``burnBatch`` (each drawn on its issuance's mint, once that mint is confirmed), group bill
   mints by work into the bills contract's ``mintBatch``, each work registered first with
   ``registerWork`` and its bill total (:mod:`.bills`), allocate nonces from the one stream of the
   minter, sign with the town's key, record each
   :class:`~kokudaka.models.ChainTransaction` (sender, raw bytes and hash) and mark the operations
   ``submitted`` with its hash. **Commit, and only then send.** Many transactions are sent back
   to back without waiting for receipts (up to ``max_in_flight`` in flight).
3. **Lost confirmations** (:mod:`.repair`; at start, every ``reorg_check_seconds``, and whenever
   the chain looks rewound: its head or the minter's nonce went back, or it was unreachable):
   every transaction of the minter confirmed within the last ``reorg_depth`` blocks (or above the
   head) must still be in a block. One that is not goes back to ``submitted``, so step 1 resends
   its bytes, or requeues its operations if another transaction took its nonce. If the contract
   itself is gone (a reset chain) the workers stop rather than settle on a chain that diverged
   from the ledger.

Why this is exactly once: the contract refuses a second mint of a ref in its town's namespace (the
batches skip it and emit ``MintSkipped``, ``BurnSkipped`` or ``BillMintSkipped``;
``burnWithReference`` reverts ``AlreadyBurned``), a ref found minted elsewhere is looked up in the
town's own events only, and a transaction's hash is recorded before it is sent, so a restarted
worker always knows what might be on the chain. Operations are claimed under a lock, so two workers
never put one operation into two transactions; an operation is sent again only after its previous
transaction is proven not mined (nonce taken by another transaction, revert) or lost. A rotated-out
minter's worker signs nothing more and follows what it sent until none is in flight (after a
restart too); the town's new key takes the rest.

**Nonces** are managed here, not by the node: the next nonce of a minter is the lowest one at or
above its mined nonce that no recorded transaction of it holds (submitted, confirmed, or reverted
in a block). That is ``max(mined nonce, highest recorded + 1)`` in the normal case, and it refills
a hole left by a transaction the node refused, instead of stranding every later one behind it.

**Throughput.** Transactions are signed with locally managed nonces and sent back to back by one
sender thread per minter (in nonce order) while the next batch is claimed and signed; receipts of
newly mined blocks are fetched in parallel meanwhile. Two more threads per worker let the
database work while the worker signs: on PostgreSQL a claim's statements run on a writer thread,
each batch's while the next is signed (the claim waits for them before it commits), and a poll's
mined transactions are recorded beside the next claims (before the cycle ends). A cycle ends at
each new block, so its mined transactions are recorded as they come. ``bench/settlement.py``
measures the whole path with 13 towns, ``bench/harvest_settlement.py`` a 10,000-board harvest,
``bench/bill_expiry.py`` 100,000 gift burns.

**Mining mode of the managed anvil: blocks on demand, one block time apart** (``--no-mining``;
the runtime mines a block every block time while transactions wait, see
:mod:`kokudaka.settlement.runtime`), not automine, and no longer plain interval mining, which
made a block every second even with nothing to mine: memory and a state file that grow about
50 GB a year. What decides it:

- Killed with ``kill -9``, anvil restarts from its last periodic state dump and loses the blocks
  after it, receipts included. No mining mode prevents that; the lost-confirmation check above
  repairs it, so the choice does not hinge on it.
- Automine can leave ready transactions unmined on a long-lived chain when they arrive out of
  nonce order (foundry issue #10122), which pipelined sends from several workers do. A block
  mined on a tick picks up everything ready.
- Under automine every ``eth_sendRawTransaction`` waits for its block: sending 64 signed batches
  of 315 mints took 1.5-2 s, against 0.15-0.3 s with blocks on a tick (anvil 1.7.1, measured
  while building this worker), so pipelining pays off only without automine.

The price is up to one block interval of latency per issuance, which a currency settled in the
background can afford. Under any mode the worker also resends transactions the node dropped
(observed with anvil under load: a pipelined transaction vanished from the pool, nonce unused).
"""
