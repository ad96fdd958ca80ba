"""Inference: from simulated runs to reported figures and back.

`observations` reads reported figures and measures each on a run as it was reported;
`likelihood` scores them (interval-censored, with reporting error); `fit` tabulates
simulated against reported; `calibration` fits the `calibrate: true` parameters, with
`emulator` and `posterior` for their posterior and `sbc` to check that method on
synthetic data; `holdout` keeps figures aside to test what was not tuned on;
`sensitivity` finds which parameter or assumption each counterfactual effect hangs on.
"""
