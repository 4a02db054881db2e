/// The optimizer functions a training library exports (DESIGN.md §7): optim.c's kernels under the
/// model's prefix, with PyTorch's semantics. Written into both `<m>.c` and `<m>.h`.
enum OptimizerABI {
  static func functions(_ m: String) -> [(comment: String, signature: String, call: String)] {
    [
      ("Σ x² over n floats, accumulated in double: the trainer sums it over every gradient for\nclipping by the global norm.",
       "double \(m)_sum_squares(long n, const float *x)", "return lk_sum_squares(n, x);"),
      ("One torch.optim.AdamW step of one parameter p (n floats) with gradient gscale·grad and\nmoments m, v (zero before step 1); step counts from 1.",
       "void \(m)_adamw_step(long n, float *p, const float *grad, float *m, float *v, float lr, float beta1,\n    float beta2, float eps, float wd, long step, float gscale)",
       "lk_adamw_step(n, p, grad, m, v, lr, beta1, beta2, eps, wd, step, gscale);"),
      ("One torch.optim.SGD step (dampening 0, no Nesterov) of one parameter with momentum buffer buf\n(unused when momentum is 0).",
       "void \(m)_sgd_step(long n, float *p, const float *grad, float *buf, float lr, float momentum, float wd,\n    long step, float gscale)",
       "lk_sgd_step(n, p, grad, buf, lr, momentum, wd, step, gscale);"),
    ]
  }
}
