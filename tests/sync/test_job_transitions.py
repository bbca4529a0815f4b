"""What may follow what for a sync job: every transition tried from every state, as one conditional update."""

from __future__ import annotations

import itertools

import pytest

from sync.models import JOB_TRANSITIONS, JobKind, JobState, SyncJob

pytestmark = pytest.mark.django_db

# transition -> {state it starts from: state it leads to}; from any other state it moves nothing.
EXPECTED = {
    "claim": {"pending": "running"},
    "heartbeat": {"running": "running"},
    "finish": {"running": "done"},
    "fail": {"running": "failed"},
    "reschedule": {"running": "pending"},
    "give_up": {"running": "dead"},
    "recover": {"running": "pending"},
    "retry": {"failed": "pending", "dead": "pending"},
    "hurry": {"pending": "pending"},
    "cancel": {"pending": "done", "running": "done"},
}
_ids = itertools.count(1)


def _job(state: str, worker: str = "worker-1") -> SyncJob:
    return SyncJob.objects.create(kind=JobKind.PICKING_SYNC, picking_id=next(_ids), state=state, worker=worker)


def test_every_transition_from_every_state():
    assert set(JOB_TRANSITIONS) == set(EXPECTED)
    table = {}
    for transition, state in itertools.product(EXPECTED, JobState.values):
        job = _job(state)
        moved = SyncJob.objects.filter(pk=job.pk).move(transition, last_outcome=transition)
        job.refresh_from_db()
        table[transition, state] = (moved, job.state, job.last_outcome)

    for (transition, state), result in table.items():
        if state in EXPECTED[transition]:
            assert result == (1, EXPECTED[transition][state], transition), (transition, state)
        else:
            assert result == (0, state, ""), (transition, state)


def test_a_worker_moves_only_the_jobs_it_holds():
    job = _job(JobState.RUNNING, worker="worker-2")  # handed to worker 2 after worker 1's lease ran out
    late = SyncJob.objects.get(pk=job.pk)
    late.worker = "worker-1"  # what worker 1 still believes

    assert not late.move("finish", held=True, last_outcome="worker 1's late result")
    assert late.state == JobState.RUNNING  # the object is left as it was: nothing was written
    assert job.move("finish", held=True, last_outcome="worker 2's result")
    job.refresh_from_db()
    assert (job.state, job.last_outcome) == (JobState.DONE, "worker 2's result")
