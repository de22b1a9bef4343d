"""Contact-centre figures: pure maths (figures, period, report), the CRM reader (store) and the service over both."""
