import json

import pytest

from pipeline.topics.taxonomy import Taxonomy, TaxonomyError, iptc_media_topics, load_taxonomy


def test_iptc_top_level_has_the_17_codes_with_attribution():
    taxonomy = iptc_media_topics()
    assert taxonomy.codes == tuple(f"medtop:{n:02d}000000" for n in range(1, 18))
    assert taxonomy.label("medtop:11000000") == "politics"
    assert taxonomy.label("medtop:16000000") == "conflict, war and peace"
    assert "CC BY 4.0" in taxonomy.attribution
    assert "IPTC" in taxonomy.attribution


def test_a_custom_taxonomy_round_trips_and_labels_default_to_codes(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps({"name": "desk", "topics": [{"code": "a", "label": "A"}, {"code": "b"}]})
    )
    taxonomy = load_taxonomy(path)
    assert [(t.code, t.label) for t in taxonomy.topics] == [("a", "A"), ("b", "b")]
    assert Taxonomy.from_dict(taxonomy.to_dict()) == taxonomy


@pytest.mark.parametrize(
    "content",
    ["[]", '{"topics": []}', '{"topics": [{"code": "a"}, {"code": "a"}]}', '{"topics": [{}]}', "{"],
)
def test_unusable_taxonomies_are_rejected(tmp_path, content):
    path = tmp_path / "t.json"
    path.write_text(content)
    with pytest.raises(TaxonomyError):
        load_taxonomy(path)
