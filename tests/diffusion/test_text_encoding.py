"""Prompt weighting syntax, chunking, clip skip, SDXL's two encoders and CONDITIONING.

The encoders are tiny random-weight CLIP text models (hidden size 32, 2 layers) with CLIP's
real vocabulary size and context length, so real token ids flow through them; nothing is
downloaded.
"""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeflow.diffusion.prompt_weights import (
    Segment,
    escape_prompt,
    parse_prompt_sections,
    parse_prompt_weights,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# ---------------------------------------------------------------- prompt syntax (no torch)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a cat", [("a cat", 1.0)]),
        ("a (cat) sat", [("a ", 1.0), ("cat", 1.1), (" sat", 1.0)]),
        ("((cat))", [("cat", 1.1 * 1.1)]),
        ("(cat:1.3)", [("cat", 1.3)]),
        ("(cat: 0.5 )", [("cat", 0.5)]),
        ("(cat:-1)", [("cat", -1.0)]),
        ("((cat):1.5)", [("cat", 1.5 * 1.1)]),  # an explicit weight scales the groups inside it
        ("((cat:1.5))", [("cat", 1.5)]),  # and is not scaled by the groups around it (ComfyUI)
        ("[cat]", [("cat", 1 / 1.1)]),
        ("[[cat]]", [("cat", 1 / 1.1 / 1.1)]),
        ("([cat])", [("cat", 1.1 / 1.1)]),
        ("(a [b] c)", [("a ", 1.1), ("b", 1.0), (" c", 1.1)]),
        (r"\(cat\) \[dog\]", [("(cat) [dog]", 1.0)]),
        (r"(\(cat\):1.2)", [("(cat)", 1.2)]),
        (r"a\b \x", [(r"a\b \x", 1.0)]),
        ("a (b", [("a (b", 1.0)]),
        ("a) b", [("a) b", 1.0)]),
        ("a ((b) c", [("a (", 1.0), ("b", 1.1), (" c", 1.0)]),
        ("([a)]", [("(", 1.0), ("a)", 1 / 1.1)]),
        ("(a:b)", [("a:b", 1.1)]),
        ("(:1.2)", [(":1.2", 1.1)]),
        ("(a:1.2:1.3)", [("a:1.2", 1.3)]),
        ("(a:nan)", [("a:nan", 1.1)]),
        ("[a:1.5]", [("a:1.5", 1 / 1.1)]),
        ("x(y)z", [("x", 1.0), ("y", 1.1), ("z", 1.0)]),
        ("()", []),
        ("", []),
        ("a BREAK b", [("a BREAK b", 1.0)]),
    ],
)
def test_prompt_weights(prompt, expected):
    assert parse_prompt_weights(prompt) == [Segment(t, pytest.approx(w)) for t, w in expected]


def test_comfyui_exact_mode_keeps_square_brackets_as_text():
    assert parse_prompt_weights("[cat] (dog)", square_brackets=False) == [("[cat] ", 1.0), ("dog", pytest.approx(1.1))]


def test_comfyui_documented_cases():
    # The examples in the docstring of ComfyUI's token_weights (comfy/sd1_clip.py).
    assert parse_prompt_weights("foo ((((lol (cat:666) attack:100)))) baz") == [
        ("foo ", 1.0), ("lol ", 100.0), ("cat", 666.0), (" attack", 100.0), (" baz", 1.0)
    ]
    assert parse_prompt_weights("((foo:1.0):0.0)") == [("foo", 1.0)]


def test_break_sections():
    assert parse_prompt_sections("a BREAK (b BREAK c:1.2)") == [[("a", 1.0)], [("b", 1.2)], [("c", 1.2)]]
    assert parse_prompt_sections("BREAK a BREAK BREAK") == [[("a", 1.0)]]
    assert parse_prompt_sections("aBREAK breakBREAK") == [[("aBREAK breakBREAK", 1.0)]]
    assert parse_prompt_sections("") == []


def test_deep_nesting_does_not_recurse():
    assert parse_prompt_weights("(" * 5000 + "x" + ")" * 5000)[0].text == "x"


_PIECES = ["a", "b", " ", ":", ".", "1", "-", "\\", "(", ")", "[", "]", "BREAK", "\n", ":1.2", ":-0.5 "]
_SYNTAX = st.lists(st.sampled_from(_PIECES) | st.characters(), max_size=50).map("".join)


@settings(max_examples=400, deadline=None)
@given(_SYNTAX)
def test_parser_never_raises(text):
    for segment in parse_prompt_weights(text):
        assert isinstance(segment.text, str) and segment.text
        assert isinstance(segment.weight, float)
    for section in parse_prompt_sections(text):
        assert section


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_escaped_text_is_literal(text):
    expected = [(text, 1.0)] if text else []
    assert parse_prompt_weights(escape_prompt(text)) == expected


# Well-formed prompts built as trees: ("text", str) | (kind, children, weight) with kind
# "(" (x1.1), "[" (/1.1) or ":" (an explicit weight, written "(...:w)").
_TREES = st.recursive(
    st.tuples(st.just("text"), st.text(alphabet="ab yz,.0", min_size=1, max_size=4)),
    lambda kids: st.tuples(
        st.sampled_from("([:"), st.lists(kids, min_size=1, max_size=3), st.sampled_from([0.5, 1.3, 2])
    ),
    max_leaves=12,
)


def _render(node):
    if node[0] == "text":
        return node[1]
    kind, kids, weight = node
    inner = "".join(_render(k) for k in kids)
    return {"(": f"({inner})", "[": f"[{inner}]", ":": f"({inner}:{weight})"}[kind]


def _char_weights(node, weight=1.0):
    if node[0] == "text":
        return [(c, weight) for c in node[1]]
    kind, kids, explicit = node
    weight = {"(": weight * 1.1, "[": weight * (1 / 1.1), ":": float(explicit)}[kind]
    return [cw for k in kids for cw in _char_weights(k, weight)]


@settings(max_examples=300, deadline=None)
@given(_TREES)
def test_well_formed_prompts_get_their_weights(tree):
    segments = parse_prompt_weights(_render(tree))
    assert [(c, w) for t, w in segments for c in t] == _char_weights(tree)


# ------------------------------------------------------------------ encoding (tiny CLIP)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from nodeflow.diffusion.conditioning import CondEntry, Conditioning, combine_conditioning  # noqa: E402
from nodeflow.diffusion.text_encoding import (  # noqa: E402
    PromptTokens,
    encode_prompt,
    encode_prompt_sdxl,
    encode_tokens,
    tokenize_prompt,
)
from nodeflow.diffusion.tokenizer import load_clip_tokenizer  # noqa: E402

START, END = 49406, 49407


def tiny_config(hidden=32, projection=None):
    return transformers.CLIPTextConfig(
        vocab_size=49408, max_position_embeddings=77, hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=2, num_attention_heads=4, projection_dim=projection or hidden,
        bos_token_id=START, eos_token_id=END, pad_token_id=END,
    )


def tiny_model(cls, seed, **config):
    torch.manual_seed(seed)
    model = cls(tiny_config(**config)).eval()
    # Random init leaves the final norm at identity; make it visible to the tests.
    norm = getattr(model, "text_model", model).final_layer_norm
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    return model


@pytest.fixture(scope="module")
def tokenizer():
    return load_clip_tokenizer()


@pytest.fixture(scope="module")
def clip():
    return tiny_model(transformers.CLIPTextModel, 0)


@pytest.fixture(scope="module")
def clip_g():
    return tiny_model(transformers.CLIPTextModelWithProjection, 1, hidden=48, projection=40)


def word_positions(tokens, word_ids):
    return [j for j, t in enumerate(tokens.ids[0]) if t in word_ids]


def test_weights_change_only_the_weighted_positions(tokenizer, clip):
    plain, _ = encode_prompt("a red cat sat", tokenizer, clip)
    weighted, _ = encode_prompt("a (red cat:1.5) sat", tokenizer, clip)
    empty, _ = encode_prompt("", tokenizer, clip)
    assert weighted.shape == plain.shape == (1, 77, 32)
    changed = [j for j in range(77) if not torch.equal(weighted[0, j], plain[0, j])]
    assert changed == [2, 3]  # <start> a red cat ...
    # ComfyUI's formula: move away from what the empty prompt has at the same position.
    expected = (plain[0, 2:4] - empty[0, 2:4]) * 1.5 + empty[0, 2:4]
    torch.testing.assert_close(weighted[0, 2:4], expected)


def test_weight_one_is_the_unweighted_encoding(tokenizer, clip):
    plain, _ = encode_prompt("a cat", tokenizer, clip)
    assert torch.equal(encode_prompt("a (cat:1.0)", tokenizer, clip)[0], plain)
    assert torch.equal(encode_prompt("(a cat:1)", tokenizer, clip)[0], plain)


def test_parentheses_are_weight_1_1(tokenizer, clip):
    assert torch.equal(encode_prompt("a (cat)", tokenizer, clip)[0], encode_prompt("a (cat:1.1)", tokenizer, clip)[0])


def test_lower_weight_moves_towards_the_empty_prompt(tokenizer, clip):
    empty, _ = encode_prompt("", tokenizer, clip)
    zero, _ = encode_prompt("a (cat:0)", tokenizer, clip)
    torch.testing.assert_close(zero[0, 2], empty[0, 2])


def test_escaped_brackets_are_tokens(tokenizer):
    tokens = tokenize_prompt(r"a \(cat\) \[dog\]", tokenizer)
    literal = (START, *tokenizer("a (cat) [dog]", add_special_tokens=False)["input_ids"], END)
    assert tokens.ids[0][: len(literal)] == literal
    assert set(tokens.weights[0]) == {1.0}
    assert tokenize_prompt("a (cat)", tokenizer).ids != tokens.ids


def test_parsed_sections_give_comfyui_exact_syntax(tokenizer):
    exact = tokenize_prompt([parse_prompt_weights("[cat] BREAK", square_brackets=False)], tokenizer)
    words = (START, *tokenizer("[cat] break", add_special_tokens=False)["input_ids"], END)
    assert exact.ids[0][: len(words)] == words  # the brackets and BREAK are words
    assert set(exact.weights[0]) == {1.0}
    with pytest.raises(TypeError, match="sections"):
        tokenize_prompt(parse_prompt_weights("cat"), tokenizer)


def test_empty_prompt(tokenizer, clip):
    tokens = tokenize_prompt("", tokenizer)
    assert tokens.ids == ((START, END) + (END,) * 75,)
    assert tokens.empty == tokens.ids[0]
    cond, pooled = encode_prompt("", tokenizer, clip)
    assert cond.shape == (1, 77, 32) and cond.dtype == torch.float32 and pooled is None
    assert torch.isfinite(cond).all()


def test_pad_with_bang(tokenizer):
    tokens = tokenize_prompt("a cat", tokenizer, pad_with="!")
    assert tokens.ids[0][:5] == (START, 320, 2368, END, 0) and tokens.ids[0][-1] == 0
    assert tokens.empty == (START, END) + (0,) * 75
    assert tokenize_prompt("a cat", load_clip_tokenizer("!")).ids == tokens.ids


def test_long_prompt_is_split_into_chunks(tokenizer, clip):
    prompt = " ".join(["cat"] * 200)
    tokens = tokenize_prompt(prompt, tokenizer)
    assert len(tokens.ids) == 3
    assert [c.count(2368) for c in tokens.ids] == [75, 75, 50]
    assert all(c[0] == START and c[76 if n < 2 else 51] == END for n, c in enumerate(tokens.ids))
    cond, _ = encode_prompt(prompt, tokenizer, clip)
    assert cond.shape == (1, 231, 32)
    # Each 77-position block is its chunk encoded on its own.
    second = PromptTokens(ids=tokens.ids[1:2], weights=tokens.weights[1:2], empty=tokens.empty)
    torch.testing.assert_close(cond[:, 77:154], encode_tokens(second, clip)[0])


def test_short_words_are_not_split_across_chunks(tokenizer):
    long_word = "photorealistic"  # 2 tokens: fewer than 8
    n = len(tokenizer(long_word, add_special_tokens=False)["input_ids"])
    assert 1 < n < 8
    tokens = tokenize_prompt("cat " * 74 + long_word, tokenizer)
    assert tokens.ids[0][75:] == (END, END)  # chunk 1 ends early and is padded
    assert tokens.ids[1][1 : 1 + n] == tuple(tokenizer(long_word, add_special_tokens=False)["input_ids"])


def test_long_words_are_split_across_chunks(tokenizer):
    word = "x" * 40  # 20 tokens: 8 or more, so it fills chunk 1 and goes on in chunk 2
    n = len(tokenizer(word, add_special_tokens=False)["input_ids"])
    assert n >= 8
    tokens = tokenize_prompt("cat " * 70 + word, tokenizer)
    assert tokens.ids[0][76] == END and END not in tokens.ids[0][1:76]
    assert len(tokens.ids) == 2 and tokens.ids[1][1 + n - 5] == END


def test_break_starts_a_new_chunk(tokenizer, clip):
    tokens = tokenize_prompt("a cat BREAK a dog", tokenizer)
    assert [c[:4] for c in tokens.ids] == [(START, 320, 2368, END), (START, 320, 1929, END)]
    assert encode_prompt("a cat BREAK a dog", tokenizer, clip)[0].shape == (1, 154, 32)


def test_clip_skip_2_is_the_penultimate_layer_with_final_norm(tokenizer, clip):
    last, _ = encode_prompt("a cat", tokenizer, clip, clip_skip=1)
    skip2, _ = encode_prompt("a cat", tokenizer, clip, clip_skip=2)
    assert not torch.allclose(last, skip2)
    # Independently: a 1-layer model with the same weights ends where clip skip 2 stops.
    config = transformers.CLIPTextConfig(**{**tiny_config().to_dict(), "num_hidden_layers": 1})
    one_layer = transformers.CLIPTextModel(config)
    missing, unexpected = one_layer.load_state_dict(clip.state_dict(), strict=False)
    assert not missing and all(".layers.1." in k for k in unexpected)
    ids = torch.tensor(tokenize_prompt("a cat", tokenizer).ids)
    with torch.no_grad():
        expected = one_layer.eval()(input_ids=ids).last_hidden_state
    torch.testing.assert_close(skip2, expected)
    raw, _ = encode_prompt("a cat", tokenizer, clip, clip_skip=2, final_norm=False)
    torch.testing.assert_close(clip.final_layer_norm(raw), skip2)


def test_clip_skip_out_of_range(tokenizer, clip):
    for bad in (0, 3):
        with pytest.raises(ValueError, match="clip_skip"):
            encode_prompt("a cat", tokenizer, clip, clip_skip=bad)


def test_sdxl_pair(tokenizer, clip, clip_g):
    prompt = "a (red:1.2) cat, " + "detailed " * 90
    cond, pooled = encode_prompt_sdxl(prompt, tokenizer, clip, clip_g)
    assert cond.shape == (1, 154, 32 + 48)  # 768 + 1280 = 2048 at full size
    assert pooled.shape == (1, 40)  # 1280 at full size
    l_part, l_pooled = encode_prompt(prompt, tokenizer, clip, clip_skip=2, final_norm=False, pad_with="eos")
    g_part, g_pooled = encode_prompt(prompt, tokenizer, clip_g, clip_skip=2, final_norm=False, pad_with="!")
    assert l_pooled is None
    torch.testing.assert_close(cond[..., :32], l_part)
    torch.testing.assert_close(cond[..., 32:], g_part)
    torch.testing.assert_close(pooled, g_pooled)
    # bigG pads with "!" (id 0): padding with the end token gives other features.
    g_eos, _ = encode_prompt(prompt, tokenizer, clip_g, clip_skip=2, final_norm=False, pad_with="eos")
    assert not torch.allclose(g_eos, g_part)


def test_pooled_is_the_first_chunks_end_token(tokenizer, clip_g):
    tokens = tokenize_prompt("cat " * 100, tokenizer, pad_with="!")
    _, pooled = encode_tokens(tokens, clip_g)
    with torch.no_grad():
        out = clip_g(input_ids=torch.tensor(tokens.ids[:1]))
    torch.testing.assert_close(pooled, out.text_embeds)


def test_conditioning_combine():
    a = Conditioning.single(torch.zeros(1, 77, 8))
    b = Conditioning.single(torch.ones(1, 154, 8), torch.ones(1, 4), strength=0.5)
    both = combine_conditioning(a, b)
    assert len(both) == 2 and [e.cond.shape[1] for e in both] == [77, 154]
    assert both.entries[1].extra["strength"] == 0.5 and both.entries[1].pooled.shape == (1, 4)
    assert len(combine_conditioning(both, a)) == 3
    with pytest.raises(TypeError):
        both.entries[1].extra["strength"] = 1.0
    assert both.entries[1].with_extra(strength=1.0).extra["strength"] == 1.0
    assert b.entries[0].extra["strength"] == 0.5


def test_conditioning_rejects_bad_shapes():
    with pytest.raises(ValueError, match="cond"):
        CondEntry(torch.zeros(77, 8))
    with pytest.raises(ValueError, match="pooled"):
        CondEntry(torch.zeros(1, 77, 8), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="at least one"):
        Conditioning(())
