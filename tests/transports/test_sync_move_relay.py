"""The C-MOVE relay of dicomul_sync opens its associations through the
factory it is given (issue 15: the SCP side does not import the SCU side),
so its behaviour shows without a socket: one association per run of
presentation contexts, each released before the next, and a sub-operation
that fails (None) when its association could not be opened."""

from __future__ import annotations

from collections.abc import Sequence

from dicomul_common.outgoing import Outgoing
from dicomul_sync._handlers import MoveAssociationOptions
from dicomul_sync._services import _MoveRelay
from pydicom.dataset import Dataset

from dicomul import ProposedContext

DESTINATION = ("127.0.0.1", 11112)
ORIGINATOR = ("MOVESCU", 7)


class FakeAssociation:
    """A StoreAssociation that records what the relay does with it."""

    def __init__(self, log: list[object], *, established: bool) -> None:
        self.log = log
        self.is_established = established

    def send_c_store(
        self, dataset: Outgoing, *, originator: tuple[str, int] | None = None
    ) -> Dataset | None:
        self.log.append(("store", dataset.sop_instance_uid, originator))
        response = Dataset()
        response.Status = 0x0000
        return response

    def release(self) -> None:
        self.log.append("release")


class Factory:
    """An OpenAssociation that hands out FakeAssociations."""

    def __init__(self, *, established: bool = True) -> None:
        self.log: list[object] = []
        self.established = established

    def __call__(
        self,
        title: str,
        address: tuple[str, int],
        contexts: Sequence[ProposedContext],
        options: MoveAssociationOptions,
    ) -> FakeAssociation:
        self.log.append(("open", title, address, len(contexts)))
        self.options = options
        return FakeAssociation(self.log, established=self.established)


def items(classes: int) -> list[Outgoing]:
    """One instance of each of ``classes`` SOP classes."""
    return [Outgoing(f"1.2.3.{n}", f"1.2.4.{n}", None) for n in range(classes)]


def relay_all(
    factory: Factory | None,
    matches: list[Outgoing],
    options: MoveAssociationOptions | None = None,
) -> list[int | None]:
    """What Services does with the relay for one C-MOVE."""
    relay = _MoveRelay(factory, matches, "STORE", DESTINATION, ORIGINATOR, options=options)
    relay.connect(0)
    try:
        return [relay.send(item) for item in matches]
    finally:
        relay.close()


def test_one_association_for_few_contexts() -> None:
    factory = Factory()
    assert relay_all(factory, items(2)) == [0, 0]
    assert factory.log == [
        ("open", "STORE", DESTINATION, 4),  # each class: its own syntax and the fallback
        ("store", "1.2.4.0", ORIGINATOR),
        ("store", "1.2.4.1", ORIGINATOR),
        "release",
    ]


def test_a_second_association_when_the_contexts_run_out() -> None:
    """65 classes need 130 contexts: two associations (PS3.8 9.3.2.2: 128
    at most), the first released before the second is requested."""
    factory = Factory()
    assert relay_all(factory, items(65)) == [0] * 65
    opened = [n for n, entry in enumerate(factory.log) if entry[0] == "open"]
    assert len(opened) == 2
    assert factory.log[opened[1] - 1] == "release"
    assert factory.log[-1] == "release"
    assert sum(1 for entry in factory.log if entry[0] == "store") == 65


def test_sub_operations_fail_when_the_destination_does_not_accept() -> None:
    factory = Factory(established=False)
    assert relay_all(factory, items(2)) == [None, None]
    assert factory.log == [("open", "STORE", DESTINATION, 4)]


def test_without_a_factory_every_sub_operation_fails() -> None:
    assert relay_all(None, items(2)) == [None, None]


def test_the_handlers_contexts_make_one_association_for_every_match() -> None:
    """Contexts given by the C-MOVE handler (pynetdicom's ``contexts``
    keyword) are proposed as they are, on one association for all."""
    factory = Factory()
    context = ProposedContext(
        context_id=1, abstract_syntax="1.2.3.0", transfer_syntaxes=("1.2.840.10008.1.2",)
    )
    options = MoveAssociationOptions(contexts=(context,), max_pdu=0, max_pdu_given=True)
    assert relay_all(factory, items(65), options) == [0] * 65
    assert [entry for entry in factory.log if entry[0] == "open"] == [
        ("open", "STORE", DESTINATION, 1)
    ]
    assert factory.options is options  # the rest is the factory's to apply
