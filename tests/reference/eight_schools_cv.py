"""Leave-one-school-out predictive densities of the eight schools model by quadrature, independent
of hierstan's code; used only by tests.

y_j ~ normal(theta_j, sigma_j), theta_j ~ normal(mu, tau), mu ~ normal(0, mu_scale),
tau ~ half-Cauchy(0, tau_scale). With theta integrated out, y_i ~ normal(mu, tau^2 + sigma_i^2), so
p(y_j | y_-j) = E[normal(y_j | mu, tau^2 + sigma_j^2)] over p(mu, tau | y_-j), a 2-D integral done
on a grid of (mu, log tau).
"""

import numpy as np
from scipy import stats
from scipy.special import logsumexp


def held_out_log_density(y, sigma, j, mu_scale=5.0, tau_scale=5.0, points=1201):
    y, sigma = np.asarray(y, float), np.asarray(sigma, float)
    mu = np.linspace(-80, 80, points)[:, None]
    log_tau = np.linspace(-10, 7, points)[None, :]
    tau = np.exp(log_tau)
    # prior of (mu, log tau): the half-Cauchy density times its Jacobian tau
    log_weight = stats.norm.logpdf(mu, 0, mu_scale) + stats.cauchy.logpdf(tau, 0, tau_scale) + log_tau
    for i in range(len(y)):
        if i != j:
            log_weight = log_weight + stats.norm.logpdf(y[i], mu, np.sqrt(tau**2 + sigma[i] ** 2))
    predictive = stats.norm.logpdf(y[j], mu, np.sqrt(tau**2 + sigma[j] ** 2))
    return float(logsumexp(log_weight + predictive) - logsumexp(log_weight))
