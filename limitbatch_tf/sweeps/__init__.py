"""Experiments over many runs of the main job: grids, batch-size sweeps.

Every trial is one ``python -m limitbatch_tf.main`` subprocess writing its
own model_dir; the orchestrator reads only the trial's results.json (data
flows one way: tools read results, they never reach into the loop). Nothing
here imports TensorFlow, so a resumed sweep with nothing left to do returns
at once.

Modules: ``trials`` (one trial: resolve, launch, read the outcome),
``grid`` (axes, cell ids, resumable execution N at a time, best cell),
``tables`` (CSV/Markdown), ``heatmap`` (2-axis PNG), ``hparams``
(TensorBoard HParams events), ``sweep`` (batch-size sweeps into a results
store).
"""
