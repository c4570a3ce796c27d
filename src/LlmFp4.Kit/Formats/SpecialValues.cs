namespace LlmFp4.Kit.Formats;

/// <summary>Which codes of a floating-point format are not numbers.</summary>
public enum SpecialValues
{
    /// <summary>Every code is a finite number (LLM-FP4 formats, OCP FP4 E2M1, FP6 E2M3/E3M2). Out-of-range inputs saturate.</summary>
    AllFinite,

    /// <summary>Only the all-ones magnitude code S.1…1.1…1 is NaN; there is no infinity (OCP FP8 E4M3 "FN"). Out-of-range inputs saturate.</summary>
    NanOnly,

    /// <summary>The all-ones exponent holds ±infinity (mantissa 0) and NaN, as in IEEE 754 (E5M2, half, bfloat16). Out-of-range inputs round to ±infinity.</summary>
    Ieee,
}
