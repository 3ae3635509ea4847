from proda_ray.spec.quality import assess, quality_signals

GOOD = ("Convection is heat transfer by the bulk movement of a fluid. When air near a heater "
        "warms, it expands, its density falls, and it rises. Cooler air sinks to replace it.")


def test_good_text_passes():
    score, _, reason = assess(GOOD, 0.5, 20)
    assert reason is None and score > 0.9


def test_each_failure_names_its_signal():
    assert assess("too few words here", 0.5, 20)[2] == "too_short"
    mash = " ".join(["%$# 12 @@ 99 ** 7"] * 20)
    assert assess(mash, 0.5, 20)[2] == "low_quality:alpha_ratio"
    repeated = "\n".join(["Buy cheap widgets now at the best price online"] * 12)
    assert assess(repeated, 0.5, 20)[2] in ("low_quality:dup_line_frac",
                                            "low_quality:dup_5gram_frac")


def test_tables_and_code_do_not_count_as_junk_lines():
    table = "\n".join(f"{i} | {i * 2} | {i * 3}" for i in range(30)) + "\n" + GOOD
    assert quality_signals(table)["junk_line_frac"] == 0.0
