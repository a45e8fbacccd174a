"""Reference values for `tests/api/stats_sites.rs`: the planted several-site
upload history's monthly counts, computed here from the same formulas (not
from the Rust aggregation), analysed with scipy, pymannkendall and
statsmodels. Prints the Rust table the test holds.

    python -m venv v && v/bin/pip install scipy statsmodels pymannkendall
    v/bin/python tests/reference/stats_by_site.py
"""

import numpy as np
import pymannkendall as mk
import statsmodels.api as sm
from scipy import stats

MONTHS = 36  # 2021-01 .. 2023-12
CUTOFF = 12  # 2022-01: juniors' trend starts here
EVENT = 20   # 2022-09: the first month starting on or after 2022-08-22


def planted(site, m):
    """(seniors, juniors) uploading in month m (each at most once counted)."""
    if site == "artstation":
        s = 30 + (m * 7 % 5) if m < EVENT else 16 + (m * 3 % 4) - (m - EVENT) // 4
        j = 0 if m < CUTOFF else 3 + (m - CUTOFF) // 3 + m % 2
    elif site == "deviantart":
        s = 20 + (m * 5 % 3) if m < EVENT else 29 + m % 3 + (m - EVENT) // 3
        j = 0 if m < CUTOFF else 4 + (m - CUTOFF) // 2 + (m * 7 % 3)
    else:  # danbooru
        s = 25 + m % 4 - m // 8 if m < EVENT else 14 + (m * 3 % 5) - (m - EVENT) // 5
        if m < CUTOFF:
            j = 0
        elif m < EVENT:
            j = 6 + 2 * (m - CUTOFF) + m % 3
        else:
            j = 30 + 2 * (m - CUTOFF) + m % 3
    return s, j


def main():
    print("// site, series: theil_sen_slope, theil_sen_intercept, mk_s, mk_var_s, mk_p,")
    print("//   then b0, b1, b2, b3 and se(b2), p(b2), p(b3) at 2022-08-22")
    for site in ["artstation", "danbooru", "deviantart"]:
        counts = [planted(site, m) for m in range(MONTHS)]
        series = {
            "all": [s + j for s, j in counts],
            "seniors": [s for s, _ in counts],
            "juniors": [j for _, j in counts],
        }
        for name, y in series.items():
            start = CUTOFF if name == "juniors" else 0
            y = np.array(y[start:], dtype=float)
            t = np.arange(len(y), dtype=float)
            ts = stats.theilslopes(y, t, method="joint")
            m = mk.original_test(y)
            k = EVENT - start
            d = (t >= k).astype(float)
            x = np.column_stack([np.ones_like(t), t, d, (t - k) * d])
            fit = sm.OLS(y, x).fit()
            vals = [ts.slope, ts.intercept, m.s, m.var_s, m.p, *fit.params,
                    fit.bse[2], fit.pvalues[2], fit.pvalues[3]]
            print(f'    ("{site}", "{name}", [' + ", ".join(repr(float(v)) for v in vals) + "]),")


main()
