"""The shipped CLIP tokenizer files: reproducible, offline, and giving open_clip's ids."""

import importlib.util
import os
import unicodedata

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest.importorskip("transformers")
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nodeflow.diffusion import make_tokenizer_files  # noqa: E402
from nodeflow.diffusion.tokenizer import TOKENIZER_DIR, clean_prompt_text, load_clip_tokenizer  # noqa: E402

START, END = 49406, 49407

# Prompts the fast tokenizer alone already tokenizes as OpenAI's tokenizer does.
PLAIN = [
    "a photo of a cat",
    "masterpiece, best quality, 1girl, solo, looking at viewer",
    "Hello, World!!! ... ?! -- 16:9 ~ (a:1.2) [b] {c} <lora:x:0.5>",
    "don't we'll they're I'M you've",
    "3.5mm lens, 1920x1080, f/1.8, 50% off, $100",
    "café naïve résumé Straße İstanbul",
    "東京タワー 夜景, 서울, Москва, العربية, हिन्दी",
    "emoji 🐱🔥❤️ test 👍🏽",
    "tabs\tand\nnewlines   and\u00a0nbsp",
    "x" * 300,
    " ".join(["highly detailed landscape"] * 70),
]
# Prompts that need clean_prompt_text first (ftfy, HTML entities, Python's lower case).
CLEANED = [
    "“curly quotes” and ‘single’",
    "ﬁne ﬂower ligatures, ＦＵＬＬＷＩＤＴＨ",
    "a &amp; b &lt;tag&gt; &#40;x&#41;",
    "Ã©mojibake",
    "ΣΑΣ: a final sigma",
]


@pytest.fixture(scope="module")
def open_clip_tokenizer():
    """open_clip's SimpleTokenizer, loaded from its file: the package's __init__ needs torchvision."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None:
        pytest.skip("open_clip_torch is not installed (pip install --no-deps open_clip_torch)")
    path = os.path.join(next(iter(spec.submodule_search_locations)), "tokenizer.py")
    module_spec = importlib.util.spec_from_file_location("_open_clip_tokenizer", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.SimpleTokenizer()


@pytest.fixture(scope="module")
def tokenizer():
    return load_clip_tokenizer()


def test_shipped_files_equal_a_fresh_generation(open_clip_tokenizer):
    fresh = make_tokenizer_files.generate()
    assert sorted(fresh) == sorted(p.name for p in TOKENIZER_DIR.iterdir())
    for name, text in fresh.items():
        assert (TOKENIZER_DIR / name).read_text(encoding="utf-8") == text, name


def test_generator_cli_check_and_write(open_clip_tokenizer, tmp_path):
    assert make_tokenizer_files.main(["--check"]) == 0
    assert make_tokenizer_files.main(["--check", "--out", str(tmp_path)]) == 1
    assert make_tokenizer_files.main(["--out", str(tmp_path)]) == 0
    assert make_tokenizer_files.main(["--check", "--out", str(tmp_path)]) == 0


def test_vocabulary_matches_open_clip(open_clip_tokenizer, tokenizer):
    vocab = tokenizer.get_vocab()
    assert len(vocab) == 49408
    # open_clip names the special tokens <start_of_text>/<end_of_text>; the ids are the same.
    ours = {token: i for token, i in vocab.items() if i < START}
    theirs = {token: i for token, i in open_clip_tokenizer.encoder.items() if i < START}
    assert ours == theirs
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id) == (START, END)
    assert tokenizer.model_max_length == 77


@pytest.mark.parametrize("prompt", PLAIN + CLEANED)
def test_ids_match_open_clip(open_clip_tokenizer, tokenizer, prompt):
    expected = [START, *open_clip_tokenizer.encode(prompt), END]
    assert tokenizer(clean_prompt_text(prompt), verbose=False)["input_ids"] == expected


def test_plain_prompts_need_no_cleaning(open_clip_tokenizer, tokenizer):
    for prompt in PLAIN:
        ids = tokenizer(prompt, add_special_tokens=False, verbose=False)["input_ids"]
        assert ids == open_clip_tokenizer.encode(prompt), prompt
    for prompt in CLEANED:
        ids = tokenizer(prompt, add_special_tokens=False, verbose=False)["input_ids"]
        assert ids != open_clip_tokenizer.encode(prompt), prompt


# Assigned characters of the Basic Multilingual Plane: code points assigned in recent Unicode
# versions can be letters to one regex engine and not to the other.
_BMP_TEXT = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs", "Co", "Cn")), max_size=60)


@settings(max_examples=150, deadline=None)
@given(prompt=_BMP_TEXT)
def test_ids_match_open_clip_on_any_text(open_clip_tokenizer, tokenizer, prompt):
    # The special tokens' text is where the two differ on purpose: ComfyUI tokenizes with
    # transformers' CLIPTokenizer, which reads "<|endoftext|>" (any case) as the token itself;
    # open_clip spells its specials differently and reads it as punctuation and words.
    assume(not any(special in prompt.lower() for special in ("<|startoftext|>", "<|endoftext|>")))
    # ftfy's mojibake repair can make a character the two regex engines disagree on: ":Õ\x98"
    # becomes ":\u0558", unassigned to Python 3.11's Unicode tables and to the tokenizers
    # library, a letter to open_clip's regex module (a case this test found).
    cleaned = clean_prompt_text(prompt)
    assume(all(unicodedata.category(c) != "Cn" for c in cleaned))
    expected = open_clip_tokenizer.encode(prompt)
    assert tokenizer(cleaned, add_special_tokens=False, verbose=False)["input_ids"] == expected


def test_padding_tokens():
    eos = load_clip_tokenizer("eos")
    bang = load_clip_tokenizer("!")
    assert eos("a cat", padding="max_length")["input_ids"] == [START, 320, 2368, END] + [END] * 73
    assert bang("a cat", padding="max_length")["input_ids"] == [START, 320, 2368, END] + [0] * 73
    assert bang.convert_ids_to_tokens(0) == "!"
    assert load_clip_tokenizer("eos") is eos  # cached


def test_unknown_padding_is_an_error():
    with pytest.raises(ValueError, match="pad_with"):
        load_clip_tokenizer("zero")
