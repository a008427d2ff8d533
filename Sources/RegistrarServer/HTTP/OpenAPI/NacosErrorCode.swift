/// The error codes of Nacos's v2 and v3 HTTP APIs (`ErrorCode` in nacos-api): the `code` of an
/// answer's envelope, with the short text that goes in its `message`. The reason a person
/// reads goes in `data`.
enum NacosErrorCode: Int, Sendable {
    case success = 0
    case parameterMissing = 10000
    case accessDenied = 10001
    case dataAccess = 10002
    case parameterValidate = 20002
    case mediaType = 20003
    case resourceNotFound = 20004
    case resourceConflict = 20005
    case serviceNameError = 21000
    case weightError = 21001
    case instanceMetadataError = 21002
    case instanceNotFound = 21003
    case instanceError = 21004
    case selectorError = 21006
    case serviceAlreadyExists = 21007
    case serviceNotExist = 21008
    case serviceDeleteFailure = 21009
    case illegalNamespace = 22000
    case namespaceNotExist = 22001
    case namespaceAlreadyExists = 22002
    case illegalState = 23000
    case fuzzyWatchPatternOverLimit = 50310
    case fuzzyWatchMatchOverLimit = 50311
    case serverError = 30000

    var message: String {
        switch self {
        case .success: "success"
        case .parameterMissing: "parameter missing"
        case .accessDenied: "access denied"
        case .dataAccess: "data access error"
        case .parameterValidate: "parameter validate error"
        case .mediaType: "MediaType Error"
        case .resourceNotFound: "resource not found"
        case .resourceConflict: "resource conflict"
        case .serviceNameError: "service name error"
        case .weightError: "weight error"
        case .instanceMetadataError: "instance metadata error"
        case .instanceNotFound: "instance not found"
        case .instanceError: "instance error"
        case .selectorError: "selector error"
        case .serviceAlreadyExists: "service already exist"
        case .serviceNotExist: "service not exist"
        case .serviceDeleteFailure: "service delete failure"
        case .illegalNamespace: "illegal namespace"
        case .namespaceNotExist: "namespace not exist"
        case .namespaceAlreadyExists: "namespace already exist"
        case .illegalState: "illegal state"
        case .fuzzyWatchPatternOverLimit: "fuzzy watch pattern over limit"
        case .fuzzyWatchMatchOverLimit: "fuzzy watch pattern matched count over limit"
        case .serverError: "server error"
        }
    }

    /// The code for an HTTP status when nothing more precise is known.
    init(status: Int) {
        switch status {
        case 403, 401: self = .accessDenied
        case 404: self = .resourceNotFound
        case 409: self = .resourceConflict
        case 400..<500: self = .parameterValidate
        default: self = .serverError
        }
    }
}
