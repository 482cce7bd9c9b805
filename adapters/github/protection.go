package github

// The branch protection API replaces all settings on PUT, so freeze and
// unfreeze read the current settings and write them back with only
// lock_branch changed. These types mirror GET and PUT
// /repos/{owner}/{repo}/branches/{branch}/protection.

type enabled struct {
	Enabled bool `json:"enabled"`
}

type login struct {
	Login string `json:"login"`
}

type slug struct {
	Slug string `json:"slug"`
}

type actorsGet struct {
	Users []login `json:"users"`
	Teams []slug  `json:"teams"`
	Apps  []slug  `json:"apps"`
}

type check struct {
	Context string `json:"context"`
	AppID   *int64 `json:"app_id,omitempty"`
}

type protectionGet struct {
	RequiredStatusChecks *struct {
		Strict   bool     `json:"strict"`
		Contexts []string `json:"contexts"`
		Checks   []check  `json:"checks"`
	} `json:"required_status_checks"`
	EnforceAdmins              *enabled `json:"enforce_admins"`
	RequiredPullRequestReviews *struct {
		DismissalRestrictions        *actorsGet `json:"dismissal_restrictions"`
		DismissStaleReviews          bool       `json:"dismiss_stale_reviews"`
		RequireCodeOwnerReviews      bool       `json:"require_code_owner_reviews"`
		RequiredApprovingReviewCount int        `json:"required_approving_review_count"`
		RequireLastPushApproval      bool       `json:"require_last_push_approval"`
		BypassPullRequestAllowances  *actorsGet `json:"bypass_pull_request_allowances"`
	} `json:"required_pull_request_reviews"`
	Restrictions                   *actorsGet `json:"restrictions"`
	RequiredLinearHistory          *enabled   `json:"required_linear_history"`
	AllowForcePushes               *enabled   `json:"allow_force_pushes"`
	AllowDeletions                 *enabled   `json:"allow_deletions"`
	BlockCreations                 *enabled   `json:"block_creations"`
	RequiredConversationResolution *enabled   `json:"required_conversation_resolution"`
	LockBranch                     *enabled   `json:"lock_branch"`
	AllowForkSyncing               *enabled   `json:"allow_fork_syncing"`
}

type actorsPut struct {
	Users []string `json:"users"`
	Teams []string `json:"teams"`
	Apps  []string `json:"apps"`
}

type statusChecksPut struct {
	Strict bool    `json:"strict"`
	Checks []check `json:"checks"`
}

type reviewsPut struct {
	DismissalRestrictions        *actorsPut `json:"dismissal_restrictions,omitempty"`
	DismissStaleReviews          bool       `json:"dismiss_stale_reviews"`
	RequireCodeOwnerReviews      bool       `json:"require_code_owner_reviews"`
	RequiredApprovingReviewCount int        `json:"required_approving_review_count"`
	RequireLastPushApproval      bool       `json:"require_last_push_approval"`
	BypassPullRequestAllowances  *actorsPut `json:"bypass_pull_request_allowances,omitempty"`
}

// protectionPut is the PUT body; the nullable fields are sent as null when unset.
type protectionPut struct {
	RequiredStatusChecks           *statusChecksPut `json:"required_status_checks"`
	EnforceAdmins                  *bool            `json:"enforce_admins"`
	RequiredPullRequestReviews     *reviewsPut      `json:"required_pull_request_reviews"`
	Restrictions                   *actorsPut       `json:"restrictions"`
	RequiredLinearHistory          bool             `json:"required_linear_history"`
	AllowForcePushes               *bool            `json:"allow_force_pushes"`
	AllowDeletions                 bool             `json:"allow_deletions"`
	BlockCreations                 bool             `json:"block_creations"`
	RequiredConversationResolution bool             `json:"required_conversation_resolution"`
	LockBranch                     bool             `json:"lock_branch"`
	AllowForkSyncing               bool             `json:"allow_fork_syncing"`
}

func (e *enabled) on() bool { return e != nil && e.Enabled }

func boolPtr(e *enabled) *bool {
	if e == nil {
		return nil
	}
	b := e.Enabled
	return &b
}

func toActors(a *actorsGet) *actorsPut {
	if a == nil {
		return nil
	}
	out := &actorsPut{Users: []string{}, Teams: []string{}, Apps: []string{}}
	for _, u := range a.Users {
		out.Users = append(out.Users, u.Login)
	}
	for _, t := range a.Teams {
		out.Teams = append(out.Teams, t.Slug)
	}
	for _, p := range a.Apps {
		out.Apps = append(out.Apps, p.Slug)
	}
	return out
}

// toPut turns the current settings (nil: none) into a PUT body with lock_branch set to lock.
func toPut(g *protectionGet, lock bool) protectionPut {
	p := protectionPut{LockBranch: lock}
	if g == nil {
		return p
	}
	if rs := g.RequiredStatusChecks; rs != nil {
		sc := &statusChecksPut{Strict: rs.Strict, Checks: []check{}}
		if len(rs.Checks) > 0 {
			sc.Checks = append(sc.Checks, rs.Checks...)
		} else {
			for _, c := range rs.Contexts {
				sc.Checks = append(sc.Checks, check{Context: c})
			}
		}
		p.RequiredStatusChecks = sc
	}
	p.EnforceAdmins = boolPtr(g.EnforceAdmins)
	if r := g.RequiredPullRequestReviews; r != nil {
		p.RequiredPullRequestReviews = &reviewsPut{
			DismissalRestrictions:        toActors(r.DismissalRestrictions),
			DismissStaleReviews:          r.DismissStaleReviews,
			RequireCodeOwnerReviews:      r.RequireCodeOwnerReviews,
			RequiredApprovingReviewCount: r.RequiredApprovingReviewCount,
			RequireLastPushApproval:      r.RequireLastPushApproval,
			BypassPullRequestAllowances:  toActors(r.BypassPullRequestAllowances),
		}
	}
	p.Restrictions = toActors(g.Restrictions)
	p.RequiredLinearHistory = g.RequiredLinearHistory.on()
	p.AllowForcePushes = boolPtr(g.AllowForcePushes)
	p.AllowDeletions = g.AllowDeletions.on()
	p.BlockCreations = g.BlockCreations.on()
	p.RequiredConversationResolution = g.RequiredConversationResolution.on()
	p.AllowForkSyncing = g.AllowForkSyncing.on()
	return p
}
