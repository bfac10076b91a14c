"""Forecast B_crit, B_L and B_H from one small-batch noise-scale run.

    limitbatch-forecast RUN_DIR [--calibration experiments/forecast/calibration.json]
        [--confidence 0.9]

RUN_DIR is the model_dir of a run trained with --telemetry=noise_scale (and
a --micro_batch_size below its batch size). The rule and the calibration
are documented in limitbatch_tf/forecast/predict.py.
"""
import argparse
import os
import sys

from limitbatch_tf.forecast import predict

# Relative to the working directory: the repository root, where the
# calibration study (experiments/forecast/) keeps its table.
DEFAULT_CALIBRATION = os.path.join("experiments", "forecast", "calibration.json")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--calibration", default=DEFAULT_CALIBRATION,
                        help="calibration table (JSON). Defaults to "
                             "experiments/forecast/calibration.json under the current folder.")
    parser.add_argument("--confidence", type=float, default=0.90,
                        help="coverage of the B_L/B_H intervals. Defaults to 0.9.")
    args = parser.parse_args(argv)
    if not 0 < args.confidence < 1:
        print(f"error: --confidence={args.confidence}: expected a number in "
              f"(0, 1)", file=sys.stderr)
        return 2
    try:
        estimate = predict.read_run(args.run_dir)
        rows = predict.load_calibration(args.calibration)
    except predict.ForecastError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(predict.report(estimate, rows, args.confidence, args.calibration))
    return 0


if __name__ == "__main__":
    sys.exit(main())
