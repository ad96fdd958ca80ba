"""Inference: from simulated runs to reported figures and back.

`observations` reads reported figures and measures each on a run as it was reported;
`likelihood` scores them (interval-censored, with reporting error); `fit` tabulates
simulated against reported; `calibration` fits the `calibrate: true` parameters;
`holdout` keeps figures aside to test what was not tuned on.
"""
