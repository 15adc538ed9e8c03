"""Listen page: loudness matching, blind A/B order and votes, the page under AppTest and in a
real browser (one synchronised player over the original and its renders)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from core.plots import overlay_figure
from core.store.store import Store
from core.workflow.listen import (
    ORIGINAL,
    ListenError,
    blind_order,
    blind_pairs,
    loudness_lufs,
    matched_gains_db,
    peak_dbfs,
    version_id,
    vote_summary,
)
from tests.conftest import ROOT

APP = str(ROOT / "app.py")
PAGE = "pages/listen.py"


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def audio():
    """A reference (12 s, one synthwave region) and two 12 s multi-region renders, rendered once."""
    from core.generate.render import render
    from core.generate.timeline import multi_region

    def region(start, end, tonic, descriptor="electronic_synthwave_driving"):
        return {"start_s": start, "end_s": end, "descriptor": descriptor, "tempo_bpm": 112, "tonic": tonic}

    reference = render(multi_region([region(0, 12, "A")]), seed=7)
    first = render(multi_region([region(0, 6, "A"), region(6, 12, "D")]), seed=1)
    second = render(multi_region([region(0, 6, "A"), region(6, 10, "E")]), seed=2)  # shorter: 10 s
    return reference, first, second


def _populate(store, audio):
    """A stored reference track with two linked renders; returns (track, [render keys])."""
    from core.audio.load import to_wav_bytes

    reference, first, second = audio
    # 6 dB quieter than the renders: the player must bring it up
    track = store.add_track(to_wav_bytes(reference.audio * 0.5, reference.sample_rate), name="ref", suffix=".wav")
    keys = [store.put_render(first), store.put_render(second)]
    store.link_render(track.content_hash, keys[0], kind="multi", label="multi_v1")
    store.link_render(track.content_hash, keys[1], kind="multi", label="multi_v2")
    return track, keys


def _player_config(at) -> dict:
    frames = at.get("iframe")
    assert len(frames) == 1, frames
    html = frames[0].proto.srcdoc
    found = re.search(r"const CFG = (\{.*?\});\n", html, re.S)
    assert found, html[:500]
    return json.loads(found.group(1))


# ------------------------------------------------------------------------------ loudness


def test_loudness_matching_brings_versions_together():
    sr = 22050
    rng = np.random.default_rng(0)
    t = np.arange(3 * sr) / sr
    loud = (0.25 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size))[:, None] * [1.0, 0.8]
    quiet = loud * 10 ** (-10 / 20)
    levels = {"loud": loudness_lufs(loud, sr), "quiet": loudness_lufs(quiet, sr)}
    assert abs(levels["loud"] - levels["quiet"] - 10.0) < 0.1
    gains = matched_gains_db(levels)
    after = {v: loudness_lufs(x * 10 ** (gains[v] / 20), sr) for v, x in (("loud", loud), ("quiet", quiet))}
    assert abs(after["loud"] - after["quiet"]) < 0.5
    assert abs(after["loud"] - (-16.0)) < 0.5

    # with the peaks known, the common target drops so that nothing clips, still matched
    peaks = {"loud": peak_dbfs(loud), "quiet": peak_dbfs(quiet)}
    safe = matched_gains_db(levels, target_lufs=-6.0, peaks_dbfs=peaks)
    assert all(peaks[v] + safe[v] <= -1.0 + 1e-6 for v in peaks)
    assert abs((levels["loud"] + safe["loud"]) - (levels["quiet"] + safe["quiet"])) < 0.01

    # silence has no loudness and gets no gain; very short audio is still measured
    assert loudness_lufs(np.zeros((sr, 2)), sr) == float("-inf")
    assert matched_gains_db({"silent": float("-inf"), "loud": levels["loud"]})["silent"] == 0.0
    assert np.isfinite(loudness_lufs(loud[: sr // 10], sr))
    with pytest.raises(ListenError):
        loudness_lufs(np.full((sr, 2), np.nan), sr)


# ------------------------------------------------------------------------------ blind A/B


def test_blind_order_hides_identities_and_is_seeded():
    ids = [ORIGINAL, version_id("k1"), version_id("k2")]
    order = blind_order(ids, seed=5)
    assert list(order) == ["A", "B", "C"]
    assert sorted(order.values()) == sorted(ids)
    assert not set(order) & set(ids)  # letters only
    assert blind_order(ids, seed=5) == order
    assert len({tuple(blind_order(ids, seed=s).values()) for s in range(12)}) > 1
    assert blind_pairs(order) == [("A", "B"), ("A", "C"), ("B", "C")]
    with pytest.raises(ListenError):
        blind_order([ORIGINAL, ORIGINAL], seed=0)


def test_votes_are_stored_and_summarised(tmp_path):
    from core.store.store import Store

    o, a, b = ORIGINAL, version_id("k1"), version_id("k2")
    store = Store(tmp_path / "data")
    store.add_vote("t1", version_a=o, version_b=a, preferred=a, session="s1")
    store.add_vote("t1", version_a=o, version_b=b, preferred="same", session="s1")
    store.add_vote("t1", version_a=a, version_b=b, preferred=a, session="s1")
    store.add_vote("t1", version_a=b, version_b=o, preferred=o, session="s2")
    store.add_vote("other", version_a=o, version_b=a, preferred=o, session="s1")

    votes = Store(tmp_path / "data").votes("t1")  # survives a new Store on the same folder
    assert len(votes) == 4
    table = vote_summary(votes).set_index("version_id")
    assert table.loc[a, ["wins", "losses", "ties"]].tolist() == [2, 0, 0]
    assert table.loc[o, ["wins", "losses", "ties"]].tolist() == [1, 1, 1]
    assert table.loc[b, ["wins", "losses", "ties"]].tolist() == [0, 2, 1]
    assert table["comparisons"].tolist() == [2, 3, 3]
    assert list(table.index) == [a, o, b]  # best score first
    assert table.loc[o, "score"] == pytest.approx(0.5)
    assert vote_summary([]).empty
    with pytest.raises(ListenError):
        vote_summary([{"version_a": o, "version_b": a, "preferred": b}])


def test_overlay_figure_has_both_waveforms_and_boundaries(audio):
    from core.audio.load import track_from_array

    reference, first, _ = audio
    fig = overlay_figure(track_from_array(reference.audio, reference.sample_rate, name="ref"), first)
    names = {tr.name for tr in fig.data if tr.name}
    assert {"reference", "render"} <= names
    assert any(getattr(s, "x0", None) == pytest.approx(6.0) for s in fig.layout.shapes)


# ------------------------------------------------------------------------------ the player's HTML


def test_player_html_links_the_audio_and_refuses_embedded_audio(audio):
    from core.errors import StudioError
    from core.workflow.audition import Version, embed_config, player_config
    from pages.ui.players import COMPONENTS

    versions = [Version(id=f"render:{i}", key=f"k{i}", label=f"v{i}", samples=r.audio, sample_rate=r.sample_rate)
                for i, r in enumerate(audio)]
    urls = [f"/media/{i:064x}.ogg" for i in range(3)]
    html = embed_config((COMPONENTS / "multi_player.html").read_text(), player_config(versions, urls))
    assert "data:audio" not in html and "base64" not in html and html.count("const CFG = {") == 1
    assert all(f'"audio_url": "{u}"' in html for u in urls)
    assert len(html) < 100_000  # three 12 s versions: peaks and labels only (they were about 3 x 100 KB)
    assert "createElement(\"audio\")" in html and "decodeAudioData" not in html
    for embedded in ("data:audio/ogg;base64,T2dnUw==", "DATA:audio/ogg;base64,AAAA", "blob:http://x/1"):
        with pytest.raises(StudioError, match="links to the audio"):
            player_config(versions[:1], [embedded])


# ------------------------------------------------------------------------------ the page (AppTest)


def _listen_page(audio):
    """A store with a track and its versions, and the Listen page open on it (AppTest)."""
    from streamlit.testing.v1 import AppTest

    from core.store.store import Store

    store = Store()
    track, keys = _populate(store, audio)
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return store, track, keys, at


def test_listen_page_player_blind_mode_and_votes(audio):
    store, track, keys, at = _listen_page(audio)
    assert at.title[0].value == "Listen"

    config = _player_config(at)
    labels = [v["label"] for v in config["versions"]]
    assert len(labels) == 3 and labels[0].startswith("original")
    assert labels[1:] == ["Stitched version 2", "Stitched version 3"]
    assert config["duration_s"] == pytest.approx(12.0, abs=0.05)  # the longest version
    gains = [v["gain_db"] for v in config["versions"]]
    assert gains[0] - gains[1] == pytest.approx(6.0, abs=0.5)  # the quieter original is brought up
    assert all("/media/" in v["audio_url"] and v["peaks"] for v in config["versions"])  # AppTest: /mock/media/
    assert len({v["audio_url"] for v in config["versions"]}) == 3
    html = at.get("iframe")[0].proto.srcdoc  # the audio is served by URL, never inside the page
    assert "data:audio" not in html and "base64" not in html and len(html) < 200_000
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("region boundaries" in spec for spec in charts)

    at.radio(key="listen_mode").set_value("Blind A/B").run()
    assert not at.exception, at.exception
    blind = _player_config(at)
    assert [v["label"] for v in blind["versions"]] == ["A", "B", "C"]
    assert all(v["peaks"] is None for v in blind["versions"])
    raw = json.dumps(blind)  # nothing in what the browser gets names a version
    assert "multi_v1" not in raw and "original" not in raw and "render:" not in raw
    assert "Pair 1 of 3" in " ".join(m.value for m in at.markdown)

    at.button(key="listen_vote_a").click().run()
    assert not at.exception, at.exception
    votes = Store().votes(track.content_hash)
    assert len(votes) == 1
    vote = votes[0]
    assert vote["preferred"] == vote["version_a"] != vote["version_b"]
    assert {vote["version_a"], vote["version_b"]} <= {ORIGINAL, *(version_id(k) for k in keys)}
    assert vote["session"] == at.session_state["listen_round"]
    assert "Pair 2 of 3" in " ".join(m.value for m in at.markdown)
    assert not at.get("plotly_chart")  # no summary (names) before the reveal

    at.button(key="listen_vote_same").click().run()
    at.button(key="listen_vote_b").click().run()
    assert not at.exception, at.exception
    assert len(Store().votes(track.content_hash)) == 3
    assert "All 3 pairs voted" in at.success[0].value
    revealed = at.dataframe[0].value
    assert list(revealed["letter"]) == ["A", "B", "C"]
    assert any("Stitched version 2" in v for v in revealed["version"])
    assert any("votes per version" in c.proto.spec for c in at.get("plotly_chart"))

    first_round = at.session_state["listen_round"]
    at.button(key="listen_new_round").click().run()  # a new round: shuffled again, nothing voted yet
    assert not at.exception, at.exception
    assert at.session_state["listen_round"] != first_round
    assert "Pair 1 of 3" in " ".join(m.value for m in at.markdown)


# ------------------------------------------------------------------------------ real browser


@pytest.mark.browser
def test_listen_page_plays_and_switches_in_a_browser(audio, tmp_path, tmp_path_factory):
    """Open /listen, press play in the player, switch version: the playhead moves, the label changes."""
    tb = pytest.importorskip("tests.test_browser")  # skips when Playwright or Chromium is missing

    from core.store.store import Store

    data_dir = tmp_path / "served-data"
    _populate(Store(data_dir), audio)

    with tb._serve(tmp_path_factory, data_dir=data_dir) as url, tb.sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=tb.CHROMIUM, args=tb.CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.set_default_timeout(30_000)
            page.goto(f"{url}/listen")
            page.get_by_role("heading", name="Listen").wait_for(timeout=60_000)
            frame = tb._player_frame(page, 120.0, testid="multi-player")  # the first analysis compiles numba code
            frame.wait_for_function("() => window.player && window.player.state().ready", timeout=30_000)
            assert frame.locator("button.version").count() == 3
            assert frame.evaluate("window.player.state().duration_s") == pytest.approx(12.0, abs=0.1)

            frame.locator("#play").click()
            frame.wait_for_function("() => document.getElementById('wrap').dataset.state === 'playing' &&"
                                    " Number(document.getElementById('wrap').dataset.position) > 0.5",
                                    timeout=15_000)
            before = frame.evaluate("window.player.state()")
            assert before["version"] == 0 and before["label"].startswith("original"), before

            frame.locator("button.version").nth(2).click()
            frame.wait_for_function("() => document.getElementById('wrap').dataset.version === '2'", timeout=5_000)
            frame.wait_for_function(f"() => window.player.position() > {before['position'] + 0.3}", timeout=10_000)
            after = frame.evaluate("window.player.state()")
            wrap = frame.locator("#wrap")
            assert after["playing"] and after["label"] == "Stitched version 3", after
            assert wrap.get_attribute("data-version-label") == "Stitched version 3"
            assert frame.locator("#current").inner_text() == "Stitched version 3"
            assert float(wrap.get_attribute("data-position")) > before["position"]

            frame.locator("#wrap").press("1")  # keyboard: back to the original, same transport
            frame.wait_for_function("() => document.getElementById('wrap').dataset.version === '0'", timeout=5_000)
            frame.locator("#wrap").press(" ")
            frame.wait_for_function("() => document.getElementById('wrap').dataset.state === 'paused'",
                                    timeout=5_000)
            tb._assert_no_traceback(page)
        finally:
            browser.close()


# ------------------------------------------------------------------------------ names, listeners, notes (issue 17)


def test_versions_can_be_renamed_and_keep_the_name(tmp_path):
    from core.errors import StoreError
    from core.store.store import Store
    from core.workflow.audition import version_labels, version_names

    store = Store(tmp_path / "data")
    store.link_render("t", "k1", kind="multi", label="multi_v0")
    store.link_render("t", "k2", kind="cover", label="cover of ref")
    assert version_labels(store.renders_of("t"), {}) == {"k1": "Stitched version 1", "k2": "Cover: cover of ref"}
    assert store.rename_version("t", "k1", "  Chorus   idea ") == "Chorus idea"
    linked = Store(tmp_path / "data").renders_of("t")  # kept in the file
    assert [(r["label"], r["named"]) for r in linked] == [("Chorus idea", True), ("cover of ref", False)]
    labels = version_labels(linked, {})
    assert labels == {"k1": "Chorus idea (stitched)", "k2": "Cover: cover of ref"}
    assert version_names(labels, {})[version_id("k1")] == "Chorus idea (stitched)"  # the votes table's names
    assert version_labels([{**linked[0], "label": "Song: multi_v3"}], {})["k1"] == "Song: multi_v3 (stitched)"
    store.link_render("t", "k1", kind="multi", label="multi_v0")  # linked again (a re-render): the name stays
    assert store.renders_of("t")[-1]["label"] == "Chorus idea"
    for bad, words in (("   ", "needs a name"), ("x" * 81, "80 characters")):
        with pytest.raises(StoreError, match=words):
            store.rename_version("t", "k2", bad)
    with pytest.raises(StoreError, match="not linked to the track"):
        store.rename_version("t", "nope", "A name")
    with pytest.raises(StoreError, match="not linked to the track"):
        store.rename_version("other track", "k1", "A name")
    kept = {r["render_key"]: r["label"] for r in store.renders_of("t")}
    assert kept == {"k1": "Chorus idea", "k2": "cover of ref"}  # a refused rename changes nothing


def test_two_tabs_renaming_one_version_at_once_last_wins(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from core.store.store import Store

    Store(tmp_path / "data").link_render("t", "k1", kind="single", label="single_x")
    first, second = Store(tmp_path / "data"), Store(tmp_path / "data")
    with ThreadPoolExecutor(2) as pool:
        names = list(pool.map(lambda i: (first, second)[i % 2].rename_version("t", "k1", f"take {i}"), range(20)))
    assert names == [f"take {i}" for i in range(20)]
    final = Store(tmp_path / "data").renders_of("t")
    assert len(final) == 1 and final[0]["named"] and final[0]["label"] in names
    second.rename_version("t", "k1", "from the second tab")
    first.rename_version("t", "k1", "from the first tab")  # later: it wins
    assert Store(tmp_path / "data").renders_of("t")[0]["label"] == "from the first tab"


def test_votes_carry_listener_and_note_and_filter_by_listener(tmp_path):
    from core.store.store import Store
    from core.workflow.listen import NO_NAME, listeners, vote_table

    o, a, b = ORIGINAL, version_id("k1"), version_id("k2")
    store = Store(tmp_path / "data")
    store.add_vote("t", version_a=o, version_b=a, preferred=a, session="s1", listener=" Ann ", note="A's chorus hits")
    store.add_vote("t", version_a=o, version_b=b, preferred="same", session="s1", listener="Ann")
    store.add_vote("t", version_a=a, version_b=b, preferred=b, session="s2", listener="Bo", note="B is warmer")
    store.add_vote("t", version_a=o, version_b=b, preferred=o, session="s3")
    votes = Store(tmp_path / "data").votes("t")
    assert listeners(votes) == ["Ann", "Bo", NO_NAME]
    names = {o: "original", a: "Chorus idea (stitched)", b: "Stitched version 2"}
    table = vote_table(votes, names=names)
    assert list(table.columns) == ["listener", "pair", "preferred", "note"]
    assert table.iloc[0].tolist() == ["Ann", "original vs Chorus idea (stitched)", "Chorus idea (stitched)",
                                      "A's chorus hits"]
    assert table["preferred"].tolist()[1:] == ["same", "Stitched version 2", "original"]
    assert vote_table(votes, names=names, listener="Bo")["note"].tolist() == ["B is warmer"]
    ann = vote_summary(votes, listener="Ann").set_index("version_id")
    assert ann["comparisons"].to_dict() == {a: 1, o: 2, b: 1} and ann.loc[a, "wins"] == 1
    assert vote_summary(votes, listener=NO_NAME).set_index("version_id").loc[o, "wins"] == 1
    assert vote_summary(votes)["comparisons"].sum() == 8 and vote_summary(votes, listener="nobody").empty


def test_listen_page_renames_a_version_and_votes_with_a_name_and_note(audio):
    store, track, keys, at = _listen_page(audio)
    pick = at.selectbox(key="listen_rename_pick")
    assert pick.value == keys[0]
    at.text_input(key=f"listen_rename_name_{keys[0][:16]}").input("Chorus idea")
    at.button(key="listen_rename_go").click().run()
    assert not at.exception and not at.error, at.error
    assert [v["label"] for v in _player_config(at)["versions"]][1] == "Chorus idea (stitched)"
    assert store.renders_of(track.content_hash)[0]["label"] == "Chorus idea"

    at.radio(key="listen_mode").set_value("Blind A/B").run()
    at.text_input(key="listen_listener").input("Ann")
    note = next(t for t in at.text_input if t.label.startswith("A note on A and B"))
    note.input("A sounds fuller")
    at.button(key="listen_vote_a").click().run()
    assert not at.exception, at.exception
    vote = Store().votes(track.content_hash)[0]
    assert (vote["listener"], vote["note"]) == ("Ann", "A sounds fuller")
    at.radio(key="listen_mode").set_value("Side by side").run()  # the name is kept while the tab is open
    at.radio(key="listen_mode").set_value("Blind A/B").run()
    assert at.text_input(key="listen_listener").value == "Ann"
    at.button(key="listen_vote_same").click().run()
    at.text_input(key="listen_listener").input("Bo")
    at.button(key="listen_vote_b").click().run()
    assert not at.exception, at.exception
    assert [v["listener"] for v in Store().votes(track.content_hash)] == ["Ann", "Ann", "Bo"]
    every = at.dataframe[-1].value  # every vote, with its listener and note
    assert every["listener"].tolist() == ["Ann", "Ann", "Bo"] and every["note"].tolist()[0] == "A sounds fuller"
    assert any("Chorus idea (stitched)" in p for p in every["pair"])
    at.selectbox(key="listen_votes_listener").set_value("Bo").run()
    assert not at.exception, at.exception
    assert at.dataframe[-1].value["listener"].tolist() == ["Bo"]
    assert at.dataframe[-2].value["comparisons"].sum() == 2  # one vote: two versions compared once
