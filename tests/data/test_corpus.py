"""The packaged-text corpus: text extraction, deduplication, the split and the checksum check (no download)."""

import hashlib

import numpy as np
import pytest

from hf_archs.data import corpus


SPHINX_PAGE = """<html><head><title>os</title><script>var x = 1;</script></head><body>
<div class="related" role="navigation"><a href="#">previous</a></div>
<div class="body" role="main"><section><h1>os &mdash; Miscellaneous<a class="headerlink" href="#">¶</a></h1>
<p>This module provides a <em>portable</em> <img src="x.png" />way
of using operating system dependent functionality.</p><p>Second &amp; last.<br>Line.</p></section></div>
<div class="footer">Copyright</div></body></html>"""


def test_html_keeps_the_main_body_text_only():
    text = corpus.html_to_text(SPHINX_PAGE)
    assert text.split("\n\n") == [
        "os — Miscellaneous",
        "This module provides a portable way of using operating system dependent functionality.",
        "Second & last. Line.",
    ]


RST = """.. SPDX-License-Identifier: GPL-2.0

==============================
How To Write Linux PCI Drivers
==============================

:Authors: Martin Mares

.. note::

   Call :c:func:`pci_enable_device` before ``pci_set_master``, see `the docs <https://x.org>`_.

+-----+-----+
"""


def test_html_main_element_can_be_named_by_id_or_tag():
    page = '<body><div id="nav">Prev</div><div id="content"><p>Text one.</p></div></body>'
    assert corpus.html_to_text(page, "id=content") == "Text one."
    assert corpus.html_to_text(page, "tag=body") == "Prev\n\nText one."


POD = """=head1 NAME

perlgit - B<Detailed> information about C<git>X<git>

=begin comment

hidden

=end comment

See L<perlhack|perlhack/intro> and E<lt>fooE<gt>.

=cut
"""


def test_pod_keeps_headings_and_the_text_of_formatting_codes():
    assert corpus.pod_to_text(POD).split("\n\n") == [
        "NAME",
        "perlgit - Detailed information about git",
        "See perlhack and <foo>.",
    ]


def test_rst_cleanup_drops_markup_and_keeps_prose():
    assert corpus.rst_to_text(RST).split("\n\n") == [
        "How To Write Linux PCI Drivers",
        "Call pci_enable_device before pci_set_master, see the docs.",
    ]


def test_dictd_entries_are_read_once_each_without_the_header():
    data = b'HEADER....Arrive \\Ar*rive"\\, v. i.\n   To come.\n   [1913 Webster]\n'
    # dictd numbers are base 64 ("K" = 10): the header at 0, the entry at 10, indexed under two headwords.
    length = corpus._DICTD_B64[(len(data) - 10) // 64] + corpus._DICTD_B64[(len(data) - 10) % 64]
    index = f"00-database-info\tA\tK\narrive\tK\t{length}\nArrive\tK\t{length}\n"
    entries = corpus.dictd_entries(index, data)
    assert len(entries) == 1
    assert corpus.dictd_entry_to_text(entries[0]) == "Arrive , v. i. To come."


def test_deduplicate_ignores_case_and_whitespace_and_drops_short_documents():
    docs = [("a", "Some text long enough to keep it."), ("b", "some  TEXT long enough to keep it."), ("c", "short")]
    assert corpus.deduplicate(docs, min_chars=10) == [docs[0]]


def test_split_depends_on_the_document_alone():
    texts = [f"document number {i}" for i in range(2000)]
    splits = [corpus.split_of(t) for t in texts]
    assert splits == [corpus.split_of(t) for t in reversed(texts)][::-1]
    assert 0.01 < splits.count("validation") / len(texts) < 0.03


def test_a_package_whose_checksum_differs_is_refused(tmp_path):
    deb = tmp_path / "pkg_1.0_all.deb"
    deb.write_bytes(b"not the pinned package")
    package = {"name": "pkg", "version": "1.0", "sha256": hashlib.sha256(b"the pinned package").hexdigest()}
    with pytest.raises(ValueError, match="differs from the manifest"):
        corpus.fetch_package(package, tmp_path)


def test_token_files_round_trip(tmp_path):
    tokens = np.arange(70_000, dtype=np.uint32).astype(np.uint16)
    corpus.save_tokens(tokens, tmp_path / "t.npy.xz")
    np.testing.assert_array_equal(corpus.load_tokens(tmp_path / "t.npy.xz"), tokens)


def test_the_manifest_pins_every_package():
    import json

    for package in json.loads(corpus.MANIFEST.read_text())["packages"]:
        assert package["version"] and len(package["sha256"]) == 64 and package["licence"]
