  // scale of the county intercepts about their mean (every hierarchical radon program)
  sigma_alpha ~ cauchy(0, hyper_scale);
