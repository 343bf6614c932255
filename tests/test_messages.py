"""Error lines: one line of at most 200 characters that still says what failed and why."""
from diffim.config.suggest import listing, suggestOrList
from diffim.messages import MAX_LINE, oneLine, shortenPaths


def test_a_short_message_is_only_made_one_line():
    assert oneLine("a\n  b\tc") == "a b c"


def test_long_paths_lose_their_leading_folders_first():
    path = "/very/long/" + "folder/" * 20 + "science.fits"
    line = oneLine(f"{path}: not a readable FITS file (expected a FITS image)")
    assert line == "…/folder/science.fits: not a readable FITS file (expected a FITS image)"
    assert shortenPaths(f"{path} and ../a/b/c.yaml", 2) == "…/folder/science.fits and …/b/c.yaml"
    # a YAML tag is not a path; a path no longer for cutting stays as it is
    assert shortenPaths("tag !!python/object/apply:os.system in /x/y.fits", 2) == \
        "tag !!python/object/apply:os.system in /x/y.fits"


def test_then_the_middle_goes_and_the_start_and_end_stay():
    message = "science.fits: " + "word " * 100 + "expected a float"
    line = oneLine(message)
    assert len(line) == MAX_LINE and "…" in line
    assert line.startswith("science.fits: word") and line.endswith("expected a float")


def test_a_long_list_gives_the_closest_names_and_how_many_there_are():
    names = [f"field{i:02d}" for i in range(40)] + ["thresholdValue"]
    text = listing("thresholdValu", names)
    assert text.startswith("thresholdValue, ") and text.endswith("(the closest of 41)")
    assert len(text) < 90
    assert listing("x", ["a", "b"]) == "a, b"
    assert suggestOrList("zzz", names, "its fields").startswith("; its fields are: ")
